"""Grafana dashboards as code (grafana-foundation-sdk): one module per board, one function per panel.

Lives in the package (not beside grafana/) so the generator, the unit tests and the live test against
a real Prometheus import the same code. Needs the `dashboards` extra; the worker never imports it.
Regenerate the committed JSON with `python -m contact_router.dashboards` (see __main__).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from contact_router.dashboards import agents, engine, escalations, queues
from contact_router.dashboards.queries import metric_names, panel_queries, substitute

# File name (without .json) -> builder. The order is the order of the boards' links.
BOARDS: dict[str, Callable[[], Dashboard]] = {
    "queues": queues.build,
    "agents": agents.build,
    "escalations": escalations.build,
    "engine": engine.build,
}

__all__ = ["BOARDS", "dashboards", "metric_names", "panel_queries", "render", "substitute", "write"]


def render(board: Dashboard) -> str:
    """Deterministic JSON (sorted keys, fixed indent, trailing newline) so the committed files diff cleanly."""
    return JSONEncoder(sort_keys=True, indent=2, ensure_ascii=False).encode(board) + "\n"


def dashboards() -> dict[str, dict[str, Any]]:
    """Every board as Grafana will load it: file name -> dashboard JSON."""
    return {name: json.loads(render(build())) for name, build in BOARDS.items()}


def write(out: Path) -> list[Path]:
    """Write `<name>.json` for every board into `out`; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, build in BOARDS.items():
        path = out / f"{name}.json"
        path.write_text(render(build()), encoding="utf-8")
        paths.append(path)
    return paths
