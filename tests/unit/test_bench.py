"""The benchmark commands keep working (they are run by hand, so a test keeps them from rotting)."""

from __future__ import annotations

import sys
from datetime import date
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


def test_bench_forecast_scores_every_method(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from benchmarks.forecast import METHODS, render, run

    rows = ["date,bin_start,calls"]
    for day in range(4 * 7):  # four weeks from Sunday 1999-01-03, the same every week
        for b in range(240):
            rows.append(f"1999-01-{3 + day:02d},{b // 10:02d}:{b % 10 * 6:02d},{(day % 7 + 1) * (b // 60)}")
    path = tmp_path / "arrivals.csv"
    path.write_text("\n".join(rows) + "\n")
    result = run(path, first_week=date(1999, 1, 17))
    assert [m["name"] for m in result["methods"]] == [name for name, _, _ in METHODS]
    assert result["target_weeks"] == 2
    chosen = result["methods"][0]
    assert chosen["all"]["half_hours"] == 2 * 7 * 48 and chosen["all"]["wape"] == 0.0
    assert "| profile (chosen) | 7 | 0.0% |" in render(result)
