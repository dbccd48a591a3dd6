"""Routing quality per scoring policy: the offline simulator on each shipped scenario, with every
queue scored by one policy, medians over several seeds (each seed draws another day of arrivals,
handle times and patience; the policies of one seed see the very same day).

    contact-router bench quality [--seeds 5] [--scenario scenarios/demo.yaml ...]
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
    ("proficiency", lambda r: r["total"]["mean_proficiency"], "{:.2f}"),
    ("occupancy stdev", lambda r: r["occupancy"]["stdev"], "{:.1%}"),
    ("most contacts / agent", lambda r: r["handled_per_agent"]["max"], "{:.0f}"),
]


def run(scenarios: list[Path], seeds: int) -> str:
    lines = []
    for path in scenarios:
        scenario = load_scenario(path)
        lines += [f"### {path.name}", "", "| policy | " + " | ".join(c[0] for c in COLUMNS) + " |"]
        lines.append("|---|" + "---|" * len(COLUMNS))
        started = time.perf_counter()
        for policy in POLICIES:
            variant = scenario.model_copy(update={"routing": with_scoring(scenario.routing, policy)})
            reports = [OfflineSimulator.from_scenario(variant, seed=seed).run().as_dict() for seed in range(seeds)]
            cells = [fmt.format(statistics.median(value(r) for r in reports)) for _, value, fmt in COLUMNS]
            lines.append(f"| {policy} | " + " | ".join(cells) + " |")
        lines += ["", f"({seeds} seeds x {len(POLICIES)} policies in {time.perf_counter() - started:.1f} s)", ""]
    return "\n".join(lines)
