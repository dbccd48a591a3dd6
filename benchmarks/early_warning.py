"""How early and how right the early warnings are: the offline simulator replays real days of the
bank's arrivals (or draws seeded days of a scenario), and every alert is judged against what then
happened (sim/warning_quality.py has the definitions). Counts add up over the days; lead times pool.
With --forecast, each replayed day's queues get an arrivals forecast fitted only on the days before it
(sim/replay_forecast.py), which the forecast-driven detectors need.

    contact-router bench warnings [--scenario scenarios/bank-day.yaml] [--first 1999-03-01 ...] [--days 14] [--forecast]

Several --first dates make one pooled run over several windows of --days days each (a tuning set
spread over the year); each window draws its seeds as it would alone (0, 1, ...), so a window's
share of the pool is what the window alone measures.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from contact_router.sim.offline import OfflineSimulator
from contact_router.sim.replay_forecast import replay_forecasts
from contact_router.sim.scenario import Scenario, load_scenario
from contact_router.sim.warning_quality import (
    KindQuality,
    breached_half_hours,
    lasting_quality,
    surges,
    warning_quality,
)
from contact_router.staffing.forecast import NoHistory, read_half_hours

TARGETS = {  # from the issue: queue SL breaches warned >= 5 min ahead; contacts flagged before breaching
    "sla_at_risk": "recall >= 90%, precision >= 90%",
    "contact_breach_predicted or contact_waiting_long": "recall >= 80%",
}


def days_of(scenario: Scenario, first: date | None, days: int) -> list[tuple[str, Scenario]]:
    """A replay scenario on `days` consecutive dates from `first`; otherwise `days` seeds of it."""
    if scenario.replay is None:
        return [(f"seed {seed}", scenario) for seed in range(days)]
    start = first or date.fromisoformat(scenario.replay.date)
    dated = []
    for n in range(days):
        day = (start + timedelta(days=n)).isoformat()
        dated.append((day, scenario.model_copy(update={"replay": scenario.replay.model_copy(update={"date": day})})))
    return dated


def windows_of(scenario: Scenario, firsts: Sequence[date | None], days: int) -> list[tuple[int, Scenario]]:
    """(seed, scenario) for every day of every window; seeds restart at 0 in each window."""
    return [(seed, variant) for first in firsts for seed, (_, variant) in enumerate(days_of(scenario, first, days))]


def measure(
    scenario: Scenario, firsts: Sequence[date | None], days: int, forecast: bool = False
) -> tuple[list[KindQuality], dict[str, float]]:
    runs: dict[str, list[KindQuality]] = {}
    contacts = 0
    started = time.perf_counter()
    if forecast and scenario.replay is None:
        raise ValueError("--forecast needs a replayed scenario: forecasts are fitted on the days before each one")
    history = read_half_hours(scenario.replay.csv) if forecast and scenario.replay is not None else {}
    unforecast = 0
    for seed, variant in windows_of(scenario, firsts, days):
        try:
            forecasts = replay_forecasts(variant, history) if forecast else None
        except NoHistory:  # the data's first days: a planner would have no forecast either
            forecasts, unforecast = None, unforecast + 1
        sim = OfflineSimulator.from_scenario(variant, seed=seed, forecasts=forecasts)
        sim.run()
        contacts += len({w.contact_id for w in sim.waits})
        qualities = warning_quality(sim.alerts, sim.waits, variant.routing)
        # Understaffed (now, or for the next half hour by the forecast): right when the service
        # level breaks in the half hour it fired or the next.
        qualities.append(lasting_quality(sim.alerts, breached_half_hours(sim.waits, variant.routing), "understaffed", reach=1))
        if forecasts:
            rules = variant.routing.default.alerts
            arrived = [(a.at, a.event.queue) for a in sim.workload.arrivals]
            truth = surges(arrived, forecasts, rules.arrivals_over_forecast or 1.25, rules.min_offered)
            qualities.append(lasting_quality(sim.alerts, truth, "arrivals_above_forecast"))
        for quality in qualities:
            runs.setdefault(quality.kind, []).append(quality)
    combined = [KindQuality.combined(found) for found in runs.values()]
    return combined, {
        "days": days * len(firsts), "contacts": contacts, "seconds": time.perf_counter() - started,
        "days_without_forecast": unforecast,
    }


def render(path: Path, firsts: Sequence[date | None], days: int, forecast: bool = False) -> str:
    scenario = load_scenario(path)
    qualities, run = measure(scenario, firsts, days, forecast)
    starts = ", ".join(str(first or (scenario.replay.date if scenario.replay else "seeded")) for first in firsts)
    label = f"{starts}, {days} days" + (" each" if len(firsts) > 1 else "")
    if forecast:
        label += ", forecasts fitted on the days before each"
        label += f" ({run['days_without_forecast']} days without the history for one)" if run["days_without_forecast"] else ""
    lines = [
        f"### {path.name} ({label}, {run['contacts']} contacts, {run['seconds']:.1f} s)",
        "",
        "| alert | breaches | warned | recall | warnings | right | precision | lead median | lead p10 | target |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for q in qualities:
        lines.append(
            f"| {q.kind} | {q.breaches} | {q.warned} | {q.recall:.1%} | {q.warnings} | {q.right} | {q.precision:.1%} "
            f"| {q.lead_median_seconds / 60:.1f} min | {q.lead_p10_seconds / 60:.1f} min | {TARGETS.get(q.kind, '')} |"
        )
    return "\n".join(lines) + "\n"
