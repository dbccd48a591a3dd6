"""Where a queue is heading this half hour: who can serve it, what staffing it needs, and the service
level it is projected to end the half hour with. Pure arithmetic on the domain's state."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from scipy.special import gammainc

from contact_router.alerts.config import AlertPolicy
from contact_router.alerts.state import HALF_HOUR, QueueStats
from contact_router.contract import AgentState, Channel
from contact_router.routing.config import QueuePolicy
from contact_router.routing.matching import meets_requirements
from contact_router.routing.model import Agent, Contact
from contact_router.staffing.erlang import agents_required, erlang_a, erlang_c


class Forecast(Protocol):
    """Expected arrivals in the half hour containing a time (POSIX seconds)."""

    def expected(self, at: float) -> float: ...


ON_THE_PHONES = (AgentState.AVAILABLE, AgentState.WRAP_UP)


@dataclass(frozen=True)
class Outlook:
    logged_in: int  # not offline, with the queue's skills (away included)
    staffed: int  # of those, on the phones: available (idle or busy) or in wrap-up
    servers: int  # their capacity on the queue's channel: a chat agent taking 3 chats is 3 servers
    aht: float
    arrival_rate: float  # per second, expected for the rest of the half hour: the staffing's rate
    projection_rate: float  # per second, the rate the service-level projection assumes (see projection_rate)
    forecast_arrivals: float | None  # the whole half hour, if the queue has a forecast
    projected_service_level: float | None  # None until enough contacts to judge
    projected_upper: float | None  # the projection plus z standard deviations of what is still to happen
    projected_offered: float
    required_erlang_c: int
    required_erlang_a: int | None  # with the queue's patience, when configured
    required_next: int | None  # next half hour, by the forecast


def representative(stats: QueueStats, queue: str) -> Contact:
    """A contact like the queue's last arrival: who meets its requirements serves the queue."""
    return Contact("", Channel(stats.channel), queue, stats.skills, 0.0, language=stats.language)


def serves(agent: Agent, typical: Contact) -> bool:
    return agent.state is not AgentState.OFFLINE and meets_requirements(agent, typical)


def on_the_phones(agents: Iterable[Agent], typical: Contact) -> list[Agent]:
    """Agents serving the queue now: with its skills, available (idle or busy) or in wrap-up."""
    return [a for a in agents if a.state in ON_THE_PHONES and meets_requirements(a, typical)]


def servers_for(agents: Iterable[Agent], typical: Contact) -> int:
    """Places to serve the queue's contacts at once: the capacity of the agents on the phones."""
    return sum(a.capacity.get(typical.channel, 0) for a in on_the_phones(agents, typical))


def answered_within(position: int, servers: int, aht: float, seconds: float) -> float:
    """Chance that the position-th place frees up within `seconds`: with n busy places freeing up
    at n / AHT per second, that time is Gamma(position, n / AHT)."""
    if seconds <= 0 or servers <= 0:
        return 0.0
    return float(gammainc(position, seconds * servers / aht))


def waiting_share(position: int, servers: int, aht: float, time_left: float, remaining: float) -> tuple[float, float]:
    """What a waiting contact adds to this half hour's (met, offered). A wait counts in the half hour
    it ends, as the service level is measured: answered after the half hour, it belongs to the next
    one, whether it was in time or not. Counting every waiting contact here made a contact already
    late with a minute to go drag down a half hour that then ended above target. (Its chance to
    hang up first is not modelled: without a patience it would be a guess.)"""
    met = answered_within(position, servers, aht, min(time_left, remaining))
    return met, answered_within(position, servers, aht, remaining)


def share_variance(met: float, offered: float, projected: float) -> float:
    """Variance of (met - projected x offered) from one contact that is met with chance `met`,
    counted (met or not) with chance `offered`."""
    return met * (1 - projected) ** 2 + (offered - met) * projected**2 - (met - projected * offered) ** 2


def expected_wait(position: int, servers: int, aht: float) -> float:
    """Until the position-th place frees up: n busy places free up at n / AHT per second."""
    return math.inf if servers <= 0 else position * aht / servers


def queue_outlook(
    queue: str,
    stats: QueueStats,
    policy: QueuePolicy,
    agents: Iterable[Agent],
    waiting: Sequence[Contact],
    now: float,
    forecast: Forecast | None,
) -> Outlook:
    """`waiting` holds the queue's waiting contacts in queue order."""
    typical = representative(stats, queue)
    serving = [a for a in agents if serves(a, typical)]
    staffed = len(on_the_phones(serving, typical))
    servers = servers_for(serving, typical)
    per_agent = servers / staffed if staffed else 1.0
    aht = stats.aht or policy.expected_handle_seconds
    threshold, target = policy.service_level_seconds, policy.service_level_target
    elapsed = max(now - stats.period_start, 0.0)
    remaining = max(HALF_HOUR - elapsed, 0.0)
    expected_now = forecast.expected(now) if forecast is not None else None
    later_rate = projection_rate(stats, elapsed, expected_now)
    rate = expected_now / HALF_HOUR if expected_now is not None else later_rate  # staffing plans by the forecast

    # Projection: what is known, plus each waiting contact's chance to be answered in time (and within
    # the half hour, or it counts in the next one), plus the rest of the half hour's arrivals at the
    # service level the queue has been getting (Erlang C on the places staffed now, corrected by what
    # this half hour and the last one really gave).
    shares = [
        waiting_share(position, servers, aht, threshold - (now - contact.arrived_at), remaining)
        for position, contact in enumerate(waiting, start=1)
    ]
    met = stats.current.met + sum(share_met for share_met, _ in shares)
    offered = stats.current.offered + sum(share_offered for _, share_offered in shares)
    later = later_rate * remaining
    seen_met, seen_offered = stats.current.met + stats.previous.met, stats.current.offered + stats.previous.offered
    prior, patience = policy.alerts.sla_prior_contacts, policy.alerts.patience_seconds
    modelled = _service_level(later_rate, aht, servers, threshold, patience)
    later_sl = later_service_level(modelled, seen_met, seen_offered, prior)
    met += later * later_sl
    offered += later
    projected = upper = None
    if offered >= policy.alerts.min_offered:
        projected = met / offered
        variance = sum(share_variance(share_met, share_offered, projected) for share_met, share_offered in shares)
        variance += later_variance(later, later_sl, projected, seen_offered + prior)
        upper = projected + certainty_z(policy.alerts, elapsed) * math.sqrt(max(variance, 0.0)) / offered

    def agents(places: int) -> int:
        return math.ceil(places / per_agent - 1e-9)

    required_a = agents(_required(rate, aht, threshold, target, patience)) if patience else None
    required_next = None
    if forecast is not None:
        next_rate = forecast.expected(stats.period_start + HALF_HOUR) / HALF_HOUR
        required_next = agents(_required(next_rate, aht, threshold, target, patience))
    return Outlook(
        logged_in=len(serving),
        staffed=staffed,
        servers=servers,
        aht=aht,
        arrival_rate=rate,
        projection_rate=later_rate,
        forecast_arrivals=expected_now,
        projected_service_level=projected,
        projected_upper=upper,
        projected_offered=offered,
        required_erlang_c=agents(_required(rate, aht, threshold, target, None)),
        required_erlang_a=required_a,
        required_next=required_next,
    )


def projection_rate(stats: QueueStats, elapsed: float, forecast_arrivals: float | None) -> float:
    """Arrivals per second the projection expects for the rest of the half hour: what this half hour
    and the one before brought, with the forecast (when there is one) counted as one more half hour
    of observation. On the 56 tuning days this beat the forecast alone and the observed rate alone
    on precision (fewer warnings for bursts the forecast knew would pass, and for lulls it knew would
    end; BENCHMARKS.md). Staffing keeps the forecast alone: it plans, it does not project."""
    seen = stats.previous.arrived + stats.current.arrived
    if forecast_arrivals is None:
        return seen / (HALF_HOUR + elapsed)
    return (seen + forecast_arrivals) / (2 * HALF_HOUR + elapsed)


def certainty_z(rules: AlertPolicy, elapsed: float) -> float:
    """Standard deviations the projection must stay below target by, `elapsed` seconds into the half
    hour: less late on, when what is known outweighs what the model says of the rest."""
    return rules.sla_late_certainty_z if elapsed >= rules.sla_late_after_seconds else rules.sla_certainty_z


def later_service_level(modelled: float, seen_met: int, seen_offered: int, prior_contacts: float) -> float:
    """The service level to expect for contacts still to arrive: the queueing model's, weighed as
    `prior_contacts` contacts against those seen answered (or not) lately. Erlang C takes the places
    staffed as the queue's own; agents shared with a busier queue are not, and the record says so."""
    if seen_offered + prior_contacts <= 0:
        return modelled
    return (seen_met + prior_contacts * modelled) / (seen_offered + prior_contacts)


def later_variance(later: float, service_level: float, projected: float, evidence: float) -> float:
    """Variance of (met - projected x offered) from `later` expected arrivals (delta method for the
    ratio: each arrival moves both counts), plus the doubt about their service level itself, which
    rests on `evidence` contacts' worth of record and model (a Beta posterior's variance)."""
    spread = later * (service_level * (1 - projected) ** 2 + (1 - service_level) * projected**2)
    doubt = later**2 * service_level * (1 - service_level) / (evidence + 1)
    return spread + doubt


# Inputs rounded so that ticks every 30 s reuse the answer: Erlang A costs milliseconds per call.
def _required(rate: float, aht: float, threshold: float, target: float, patience: float | None) -> int:
    return _required_rounded(round(rate, 4), round(aht), threshold, target, patience)


@lru_cache(maxsize=4096)
def _required_rounded(rate: float, aht: float, threshold: float, target: float, patience: float | None) -> int:
    return agents_required(rate, aht, threshold, target, patience).agents


def _service_level(rate: float, aht: float, agents: int, threshold: float, patience: float | None) -> float:
    """Erlang C's, or with a patience Erlang A's: customers who hang up shorten the queue behind
    them (and count against the service level), where Erlang C lets it grow without bound."""
    if rate <= 0:
        return 1.0
    if agents <= 0:
        return 0.0
    if patience is None:
        return erlang_c(rate, aht, agents, threshold).service_level
    return _erlang_a_rounded(round(rate, 5), round(aht), agents, threshold, patience)


@lru_cache(maxsize=4096)
def _erlang_a_rounded(rate: float, aht: float, agents: int, threshold: float, patience: float) -> float:
    return erlang_a(rate, aht, agents, threshold, patience).service_level
