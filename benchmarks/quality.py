"""Routing quality per scoring policy: the offline simulator on each scenario, with every queue
scored by one policy, medians over several seeds (each seed draws another day of arrivals, handle
times, patience and the people's reactions; the policies of one seed see the very same day).
The early-warning detectors are left out: they only watch, and the routing is the same without
them (tests/unit/test_scenarios.py), but in a 1,000-agent center they cost most of the run.

    contact-router bench quality [--seeds 5] [--scenario scenarios/demo.yaml ...] [--max-hours 0.5]
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from contact_router.sim.offline import OfflineSimulator, with_scoring
from contact_router.sim.scenario import load_scenario

POLICIES = ["blend", "best_skilled", "longest_idle", "least_occupied", "round_robin", "random"]
COLUMNS = [
    ("SL", lambda r: r["total"]["service_level_20s"], "{:.1%}"),
    ("ASA s", lambda r: r["total"]["asa_seconds"], "{:.1f}"),
    ("abandoned", lambda r: r["total"]["abandonment_rate"], "{:.1%}"),
    ("transfers", lambda r: r["total"]["transfer_rate"], "{:.1%}"),
    ("repeats", lambda r: r["total"]["repeats"] + r["total"]["hops"], "{:.0f}"),
    ("proficiency", lambda r: r["total"]["mean_proficiency"], "{:.2f}"),
    ("occupancy stdev", lambda r: r["occupancy"]["stdev"], "{:.1%}"),
    ("most contacts / agent", lambda r: r["handled_per_agent"]["max"], "{:.0f}"),
]


def run(scenarios: list[Path], seeds: int, max_hours: float | None = None) -> str:
    lines = []
    for path in scenarios:
        scenario = load_scenario(path)
        if max_hours is not None and scenario.replay is None and scenario.hours > max_hours:
            scenario = scenario.model_copy(update={"hours": max_hours})
        agents = sum(g.count for g in scenario.agents)
        hours = 24.0 if scenario.replay is not None else scenario.hours
        lines += [f"### {path.name}: {agents} agents, {len(scenario.queues)} queues, {hours:g} simulated hours", ""]
        lines += ["| policy | " + " | ".join(c[0] for c in COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
        started = time.perf_counter()
        offered = []
        for policy in POLICIES:
            variant = scenario.model_copy(update={"routing": with_scoring(scenario.routing, policy)})
            reports = [
                OfflineSimulator.from_scenario(variant, seed=seed, early_warnings=False).run().as_dict()
                for seed in range(seeds)
            ]
            offered += [r["total"]["offered"] for r in reports]
            cells = [fmt.format(statistics.median(value(r) for r in reports)) for _, value, fmt in COLUMNS]
            lines.append(f"| {policy} | " + " | ".join(cells) + " |")
        lines += [
            "",
            f"({seeds} seeds x {len(POLICIES)} policies in {time.perf_counter() - started:.1f} s; "
            f"median {statistics.median(offered):.0f} contacts offered per run)",
            "",
        ]
    return "\n".join(lines)
