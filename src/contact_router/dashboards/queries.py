"""The PromQL behind the boards, for tests: list it, name its metrics, make it runnable outside Grafana."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

# What a Grafana template variable becomes when a query runs outside Grafana. `.*` is the boards'
# "All" value (queries match with =~); the intervals are a plausible zoom for a 5s scrape.
DEFAULT_VALUES: dict[str, str] = {
    "domain": ".*",
    "queue": ".*",
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1h",
}

_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")
_PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "bool",
    "inf", "nan",
}


def substitute(expr: str, values: Mapping[str, str] | None = None) -> str:
    """Replace $var / ${var} with concrete values; an unknown variable raises KeyError (a typo on a board)."""
    merged = {**DEFAULT_VALUES, **(values or {})}
    return _VARIABLE.sub(lambda m: merged[m.group(1) or m.group(2)], expr)


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (label matchers, grouping labels, functions, ranges removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*+", text):  # possessive: whole words only
        word = match.group(0)
        if text[match.end():].lstrip().startswith("(") or word.lower() in _PROMQL_WORDS:
            continue  # a function or aggregation, or a keyword
        names.add(word)
    return names


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # a collapsed row holds its panels


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard uid, panel title, expr) for every query of every board, in board order.

    The live test runs each `substitute(expr)` against a real Prometheus and expects data.
    """
    from contact_router.dashboards import dashboards

    return [
        (board["uid"], panel["title"], target["expr"])
        for board in dashboards().values()
        for panel in _panels(board.get("panels", []))
        for target in panel.get("targets", [])
    ]
