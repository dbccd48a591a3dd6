"""Dashboards as code: the committed JSON is what the code generates, every panel is documented and
queries our metrics with valid PromQL, and docker-compose's Grafana provisions the files."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from contact_router.dashboards import BOARDS, dashboards, metric_names, panel_queries, render, substitute
from contact_router.dashboards.__main__ import main as generate

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "grafana" / "dashboards"
PROVISIONING = ROOT / "grafana" / "provisioning"
BOARDS_JSON = dashboards()
BUILTIN_VARIABLES = {"__rate_interval", "__interval", "__range"}


def panels(board: dict) -> list[dict]:
    return [p for p in board["panels"] if p["type"] != "row"]


def variables(board: dict) -> list[dict]:
    return board.get("templating", {}).get("list", [])


def test_regenerating_changes_nothing() -> None:
    assert sorted(p.name for p in OUT.iterdir()) == sorted(f"{name}.json" for name in BOARDS), "stale or missing files"
    for name, build in BOARDS.items():
        assert render(build()) == render(build()), f"{name}: not deterministic"
        assert (OUT / f"{name}.json").read_bytes() == render(build()).encode(), (
            f"grafana/dashboards/{name}.json is out of date: run `python -m contact_router.dashboards` "
            "(with the grafana-foundation-sdk version pyproject.toml pins)"
        )


def test_the_check_mode_reports_stale_files(tmp_path: Path) -> None:
    assert generate(["--out", str(tmp_path), "--check"]) == 1
    assert generate(["--out", str(tmp_path)]) == 0
    assert generate(["--out", str(tmp_path), "--check"]) == 0


def test_the_four_boards_of_the_issue_exist_with_stable_unique_ids() -> None:
    assert set(BOARDS) == {"queues", "agents", "escalations", "engine"}
    for name, board in BOARDS_JSON.items():
        assert board["uid"] == f"contact-router-{name}" and len(board["uid"]) <= 40
        ids = [p["id"] for p in board["panels"]]
        assert ids == list(range(1, len(ids) + 1)), name
        for panel in panels(board):
            ref_ids = [t["refId"] for t in panel["targets"]]
            assert len(set(ref_ids)) == len(ref_ids) and all(ref_ids), (name, panel["title"])


def test_every_panel_has_a_title_a_description_a_unit_and_a_query() -> None:
    for name, board in BOARDS_JSON.items():
        titles = [p["title"] for p in panels(board)]
        assert len(set(titles)) == len(titles), f"{name}: duplicate panel titles"
        for panel in panels(board):
            where = f"{name} / {panel.get('title')}"
            assert panel.get("title") and len(panel.get("description", "")) > 20, where
            assert panel["fieldConfig"]["defaults"].get("unit"), where
            assert panel["targets"] and all(t.get("expr", "").strip() for t in panel["targets"]), where


def test_the_panels_the_issue_asks_for_are_there() -> None:
    titles: dict[str, set[str]] = {}
    for uid, title, _ in panel_queries():
        titles.setdefault(uid, set()).add(title)
    wanted = {
        "contact-router-queues": {"Service level vs target", "Contacts waiting", "Oldest wait",
                                  "Average speed of answer", "Abandonment", "Arrivals vs forecast",
                                  "Staffed vs recommended agents"},
        "contact-router-agents": {"Agents by state", "Occupancy", "Leaderboard", "Average handle time by location"},
        "contact-router-escalations": {"Active early warnings by kind", "Active early warnings by queue"},
        "contact-router-engine": {"Events per second", "Decision latency", "Consumer lag", "Dead letters",
                                  "Workers up and ready"},
    }
    for uid, names in wanted.items():
        assert names <= titles[uid], f"{uid}: missing {names - titles[uid]}"
    states = next(e for u, t, e in panel_queries() if t == "Agents by state")
    assert "by (state)" in states


def test_queries_use_only_our_metrics_and_the_filters_the_board_defines() -> None:
    used: set[str] = set()
    for name, board in BOARDS_JSON.items():
        defined = {v["name"] for v in variables(board)} | BUILTIN_VARIABLES
        # A variable's label_values(<selector>, <label>): its selector is checked like a panel query.
        selectors = [re.fullmatch(r"label_values\((.+), *\w+\)", v["query"]).group(1) for v in variables(board)]
        for expr in [t["expr"] for p in panels(board) for t in p["targets"]] + selectors:
            names = metric_names(expr)
            assert names, f"{name}: no metric in {expr}"
            foreign = {n for n in names if not n.startswith("contact_router_") and n != "up"}
            assert not foreign, f"{name}: {foreign} in {expr}"
            referenced = {a or b for a, b in re.findall(r"\$\{(\w+)\}|\$(\w+)", expr)}
            assert referenced <= defined, f"{name}: undefined {referenced - defined} in {expr}"
            used |= names
    # Whatever the names, a live Prometheus must know them (the live test checks panel_queries()).
    assert "up" in used and "contact_router_escalations_active" in used


def test_boards_with_domain_or_queue_series_offer_both_filters() -> None:
    for name, board in BOARDS_JSON.items():
        exprs = " ".join(t["expr"] for p in panels(board) for t in p["targets"])
        if "queue=~" in exprs or "domain=~" in exprs:
            variable = {v["name"]: v for v in variables(board)}
            assert set(variable) == {"domain", "queue"}, name
            assert all(v["multi"] and v["includeAll"] and v["allValue"] == ".*" for v in variable.values()), name
            assert variable["queue"]["query"].startswith("label_values(") and "$domain" in variable["queue"]["query"]


def test_metric_names_ignores_functions_labels_ranges_and_keywords() -> None:
    expr = ('histogram_quantile(0.99, sum by (le) (rate(a_bucket{x=~"b(c)"}[$__rate_interval])))'
            ' / on (q) group_left (z) b offset 5m and bool up > 1e3 or vector(0)')
    assert metric_names(expr) == {"a_bucket", "b", "up"}
    assert substitute('x{q=~"$queue", d=~"${domain}"}[$__rate_interval]') == 'x{q=~".*", d=~".*"}[1m]'
    with pytest.raises(KeyError):
        substitute("$nope")


def test_panels_and_queries_use_the_provisioned_datasource() -> None:
    (datasource,) = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())["datasources"]
    expected = {"type": datasource["type"], "uid": datasource["uid"]}
    for board in BOARDS_JSON.values():
        for panel in panels(board):
            assert panel["datasource"] == expected and all(t["datasource"] == expected for t in panel["targets"])
        assert all(v["datasource"] == expected for v in variables(board))
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())["global"]
    assert datasource["jsonData"]["timeInterval"] == scrape["scrape_interval"], "$__rate_interval needs it"


def test_docker_compose_grafana_provisions_the_generated_files() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = dict(v.removesuffix(":ro").split(":", 1) for v in compose["services"]["grafana"]["volumes"])
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    (provider,) = yaml.safe_load((PROVISIONING / "dashboards" / "contact-router.yml").read_text())["providers"]
    assert provider["type"] == "file" and provider["options"]["path"] == mounts["./grafana/dashboards"]


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool has no "check expr": each query becomes a recording rule, and `check rules` parses them."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is missing: `deploy/stack up` installs it (Debian's prometheus package)")
    rules = [
        {"record": f"dashboard:{uid.replace('-', '_')}:query{n}", "expr": substitute(expr)}
        for n, (uid, _, expr) in enumerate(panel_queries())
    ]
    path = tmp_path / "dashboards.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(rules)} rules found" in result.stdout
