"""Erlang C (M/M/n: customers wait forever) and Erlang A (M/M/n+M: customers abandon after an
exponential patience), the queueing models contact centers staff by.

Service level here is the share of all arrivals answered within the threshold, the definition the
offline simulator and the worker metrics use (abandoned contacts count against it).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.sparse import diags
from scipy.sparse.linalg import expm_multiply

MAX_QUEUE = 20_000  # waiting positions modelled in Erlang A; the tail beyond is negligible long before


@dataclass(frozen=True)
class QueueFigures:
    agents: int
    offered_erlangs: float  # arrival rate x AHT
    service_level: float  # share of arrivals answered within the threshold
    probability_of_waiting: float
    asa_seconds: float  # mean wait of answered contacts (all answered, including those not waiting)
    occupancy: float  # share of agents' time busy
    probability_of_abandoning: float = 0.0

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _erlang_b(agents: int, erlangs: float) -> float:
    """Erlang B by its stable recursion."""
    b = 1.0
    for k in range(1, agents + 1):
        b = erlangs * b / (k + erlangs * b)
    return b


def erlang_c(arrival_rate: float, aht: float, agents: int, threshold: float) -> QueueFigures:
    """M/M/n with infinite patience. arrival_rate per second, aht and threshold in seconds."""
    a = arrival_rate * aht
    if agents <= a:
        # Unstable: the queue grows without bound; nothing is answered within any threshold.
        return QueueFigures(agents, a, 0.0, 1.0, math.inf, 1.0)
    b = _erlang_b(agents, a)
    p_wait = agents * b / (agents - a * (1 - b))
    sl = 1.0 - p_wait * math.exp(-(agents - a) * threshold / aht)
    asa = p_wait * aht / (agents - a)
    return QueueFigures(agents, a, sl, p_wait, asa, a / agents)


def erlang_a(arrival_rate: float, aht: float, agents: int, threshold: float, patience: float) -> QueueFigures:
    """M/M/n+M: a waiting customer abandons at rate 1/patience. Exact, from the birth-death chain of
    the number of customers in the system and the absorbing chain of one arriving customer."""
    lam, mu, theta, n = arrival_rate, 1.0 / aht, 1.0 / patience, agents
    # Stationary distribution, unnormalised, in logs to avoid overflow: pi_k / pi_{k-1} = lam / death(k).
    logs = [0.0]
    for k in range(1, n + MAX_QUEUE + 1):
        death = mu * min(k, n) + theta * max(k - n, 0)
        logs.append(logs[-1] + math.log(lam / death))
        if k > n and logs[-1] < logs[n] - 60:  # e^-60 of the mass at n: the rest is negligible
            break
    weights = np.exp(np.array(logs) - max(logs))
    pi = weights / weights.sum()
    p_wait = float(pi[n:].sum())
    # An arrival finding m customers waiting ahead (state n + m) has m ahead in the absorbing chain.
    ahead = pi[n:] / 1.0  # probability of arriving to find m ahead, m = 0..Q (PASTA)
    q = len(ahead)
    m = np.arange(q)
    out_rate = n * mu + m * theta + theta  # leave state m: a service start ahead, an abandonment, own
    down = (n * mu + m * theta) / out_rate  # to m - 1 (or, at m = 0, to being served)
    served = np.empty(q)  # P(eventually answered | m ahead)
    answered_wait = np.empty(q)  # E[wait x 1{answered} | m ahead]
    served[0] = down[0]
    answered_wait[0] = served[0] / out_rate[0]
    for k in range(1, q):
        served[k] = down[k] * served[k - 1]
        answered_wait[k] = served[k] / out_rate[k] + down[k] * answered_wait[k - 1]
    p_answered = (1 - p_wait) + float(ahead @ served)
    p_abandon = 1.0 - p_answered
    # P(answered within the threshold): transient of the chain m -> m-1 -> ... -> answered, with
    # abandonment as the other exit. States 0..q-1 plus "answered" at index q.
    # The generator acts on a column of probabilities, so entry [to, from] holds the rate from -> to.
    # Only the first `reach` states can be answered in time with a chance above 1e-15 (m + 1 steps
    # at rates of at most those of the states kept: a Poisson tail), so the rest are left out.
    q = _reach(n * mu, theta, threshold, q)
    rates_down = n * mu + m[:q] * theta  # m -> m-1 for m >= 1 (the super-diagonal); m = 0 -> answered
    diagonal = np.append(-out_rate[:q], 0.0)  # "answered" absorbs; abandoning leaves the chain
    generator = diags([diagonal, np.append(rates_down[1:], 0.0)], [0, 1], shape=(q + 1, q + 1), format="lil")
    generator[q, 0] = n * mu
    generator = generator.tocsc()
    start = np.append(ahead[:q], 0.0)
    after = expm_multiply(generator * threshold, start)
    sl = (1 - p_wait) + float(after[q])
    asa = float(ahead @ answered_wait) / p_answered if p_answered > 0 else math.inf
    busy = float(pi @ np.minimum(np.arange(len(pi)), n))  # mean busy agents
    return QueueFigures(n, lam * aht, sl, p_wait, asa, busy / n, p_abandon)


def _reach(service: float, theta: float, threshold: float, states: int) -> int:
    """States (customers ahead, from 0) from which being answered within the threshold has a chance
    above about 1e-15: m + 1 steps, each at rate at most service + (m + 1) x theta, within it."""
    for m in range(states):
        steps = (service + (m + 1) * theta) * threshold  # expected steps within the threshold at that rate
        if m + 1 > steps + 10 * math.sqrt(steps) + 30:
            return m
    return states


def figures(
    arrival_rate: float, aht: float, agents: int, threshold: float, patience: float | None = None
) -> QueueFigures:
    if patience is None:
        return erlang_c(arrival_rate, aht, agents, threshold)
    return erlang_a(arrival_rate, aht, agents, threshold, patience)


def agents_required(
    arrival_rate: float,
    aht: float,
    threshold: float,
    target_service_level: float,
    patience: float | None = None,
    max_occupancy: float = 1.0,
) -> QueueFigures:
    """The fewest agents meeting the service-level target (and the occupancy cap), with their figures."""
    if arrival_rate <= 0:
        return QueueFigures(0, 0.0, 1.0, 0.0, 0.0, 0.0)

    def enough(agents: int) -> QueueFigures | None:
        result = figures(arrival_rate, aht, agents, threshold, patience)
        return result if result.service_level >= target_service_level and result.occupancy <= max_occupancy else None

    # Service level rises and occupancy falls with every agent added, so search: gallop up from a
    # lower bound, then bisect. Erlang A costs a matrix exponential per call; a linear walk from one
    # agent took seconds for a 300-erlang queue. Bounds: Erlang C needs more agents than erlangs;
    # with abandonment, n agents answer at most n / erlangs of the arrivals.
    erlangs = arrival_rate * aht
    low = max(1, math.floor(erlangs if patience is None else target_service_level * erlangs))
    high = low
    while (found := enough(high)) is None:
        low, high = high + 1, high * 2
    while low < high:
        middle = (low + high) // 2
        if (result := enough(middle)) is None:
            low = middle + 1
        else:
            high, found = middle, result
    return found


def scheduled_agents(required: int, shrinkage: float) -> int:
    """Agents to schedule so that `required` are on the phones after shrinkage (breaks, training...)."""
    if not 0 <= shrinkage < 1:
        raise ValueError("shrinkage must be in [0, 1)")
    return math.ceil(required / (1.0 - shrinkage) - 1e-9)
