"""When contacts arrive, and to which queue: Poisson with time-varying rates (half-hour profile,
bursts), or a real day replayed."""

from __future__ import annotations

import csv
import math
import random

from contact_router.sim.scenario import Burst, QueueSpec, ReplaySpec, Scenario


def poisson_arrivals(
    queues: list[QueueSpec],
    hours: float,
    rng: random.Random,
    profile: list[float] | None = None,
    bursts: list[Burst] | None = None,
) -> list[tuple[float, QueueSpec]]:
    """Arrival times (seconds from the start) of independent Poisson streams, one per queue, with
    time-varying rates: each rate is multiplied by its half hour's profile factor and by the factor
    of any burst under way. Thinning a Poisson stream at the peak rate keeps each arrival with
    probability rate(t) / peak, which is exactly a Poisson process of rate rate(t)."""
    horizon = hours * 3600.0
    factors = profile or [1.0]
    arrivals: list[tuple[float, QueueSpec]] = []
    for queue in queues:
        mine = [b for b in bursts or [] if b.queues is None or queue.name in b.queues]
        peak = max(factors) * math.prod(max(b.factor, 1.0) for b in mine)
        if peak <= 0:
            continue
        rate = queue.arrivals_per_hour / 3600.0 * peak
        t = rng.expovariate(rate)
        while t < horizon:
            factor = factors[int(t // 1800) % len(factors)]
            for b in mine:
                if b.at_hours * 3600 <= t < b.at_hours * 3600 + b.minutes * 60:
                    factor *= b.factor
            if rng.random() < factor / peak:
                arrivals.append((t, queue))
            t += rng.expovariate(rate)
    arrivals.sort(key=lambda a: a[0])
    return arrivals


def read_day(replay: ReplaySpec) -> list[tuple[float, float, float]]:
    """(bin start, bin end, expected calls) in seconds from midnight, for the replayed date."""
    bins = []
    with replay.csv.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["date"] != replay.date:
                continue
            hh, mm = row["bin_start"].split(":")
            start = int(hh) * 3600 + int(mm) * 60
            bins.append((float(start), float(row["calls"]) * replay.scale))
    if not bins:
        raise ValueError(f"{replay.csv} has no rows for {replay.date}")
    bins.sort()
    width = bins[1][0] - bins[0][0] if len(bins) > 1 else 360.0
    return [(start, start + width, calls) for start, calls in bins]


def replayed_arrivals(replay: ReplaySpec, queues: list[QueueSpec], rng: random.Random) -> list[tuple[float, QueueSpec]]:
    """Each bin's count of calls (a fractional count rounds up with its fraction's probability),
    spread uniformly over the bin; each call goes to a queue with probability proportional to the
    queue's arrivals_per_hour."""
    weights = [q.arrivals_per_hour for q in queues]
    arrivals = []
    for start, end, calls in read_day(replay):
        n = math.floor(calls) + (1 if rng.random() < calls - math.floor(calls) else 0)
        for _ in range(n):
            arrivals.append((rng.uniform(start, end), rng.choices(queues, weights)[0]))
    arrivals.sort(key=lambda a: a[0])
    return arrivals


def scenario_arrivals(scenario: Scenario, rng: random.Random) -> tuple[list[tuple[float, QueueSpec]], float]:
    """The arrivals of a scenario, and the simulated horizon in seconds."""
    if scenario.replay is not None:
        return replayed_arrivals(scenario.replay, scenario.queues, rng), 24 * 3600.0
    arrivals = poisson_arrivals(scenario.queues, scenario.hours, rng, scenario.half_hour_profile, scenario.bursts)
    return arrivals, scenario.hours * 3600.0
