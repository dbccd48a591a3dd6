"""The benchmark commands keep working (they are run by hand, so a test keeps them from rotting)."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_bench_quality_tabulates_every_policy(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from benchmarks.quality import POLICIES, run

    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(
        yaml.safe_dump(
            {
                "name": "tiny",
                "domains": ["d"],
                "hours": 0.5,
                "queues": [{"name": "q", "arrivals_per_hour": 60, "mean_handle_seconds": 60, "mean_patience_seconds": 60}],
                "agents": [{"name": "a", "count": 2, "skills": {}}],
            }
        )
    )
    table = run([scenario], seeds=1)
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| policy")]
    assert [row.split("|")[1].strip() for row in rows] == POLICIES
