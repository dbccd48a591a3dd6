"""Alerting as tested code: promtool checks and unit-tests every alert rule, amtool checks the routing.
The tools come from Debian's prometheus and prometheus-alertmanager packages (deploy/stack up)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "deploy" / "prometheus"
ALERTMANAGER = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
RULES = yaml.safe_load((PROM / "rules" / "contact-router.yml").read_text())
ALERTS = [rule for group in RULES["groups"] for rule in group["rules"] if "alert" in rule]
TESTS = [yaml.safe_load(p.read_text()) for p in sorted((PROM / "tests").glob("*.yml"))]


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: `deploy/stack up` installs it (Debian's prometheus packages)", pytrace=False)
    return path


def run(*args: str, cwd: Path = ROOT) -> str:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_the_rules_and_the_prometheus_config_are_valid() -> None:
    run(tool("promtool"), "check", "rules", str(PROM / "rules" / "contact-router.yml"))
    run(tool("promtool"), "check", "config", str(PROM / "prometheus.yml"))


def test_every_alert_rule_unit_test_passes() -> None:
    for path in sorted((PROM / "tests").glob("*.yml")):
        run(tool("promtool"), "test", "rules", path.name, cwd=path.parent)


def test_every_alert_has_severity_summary_description_and_a_runbook_entry() -> None:
    runbooks = (ROOT / "docs" / "runbooks.md").read_text()
    anchors = {re.sub(r"[^a-z0-9]+", "", line[3:].lower()) for line in runbooks.splitlines() if line.startswith("## ")}
    for alert in ALERTS:
        assert alert["labels"]["severity"] in {"page", "warning"}, alert["alert"]
        annotations = alert["annotations"]
        assert annotations["summary"] and annotations["description"], alert["alert"]
        assert annotations["runbook_url"].split("#")[1] in anchors, f"{alert['alert']}: no runbook entry"


def test_every_alert_is_tested_firing_and_not_yet_firing() -> None:
    cases = [case for doc in TESTS for test in doc["tests"] for case in test.get("alert_rule_test", [])]
    for alert in ALERTS:
        mine = [case for case in cases if case["alertname"] == alert["alert"]]
        assert any(case["exp_alerts"] for case in mine), f"{alert['alert']}: no test that it fires"
        assert any(not case["exp_alerts"] for case in mine), f"{alert['alert']}: no test that it waits"


def test_pages_go_to_on_call_and_warnings_to_supervisors() -> None:
    amtool = tool("amtool")
    run(amtool, "check-config", str(ALERTMANAGER))
    for labels, receiver in (("severity=page", "on-call"), ("severity=warning", "supervisors")):
        out = run(amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER}", "--verify.receivers", receiver, labels)
        assert receiver in out


def test_the_local_stack_configs_are_the_compose_ones_with_local_addresses(tmp_path: Path) -> None:
    """deploy/stack generates the local Prometheus and Alertmanager configs; they must stay valid and
    keep the compose configs' intervals, rules and routing, with every address on 127.0.0.1."""
    env = {**os.environ, "CONTACT_ROUTER_STACK_DIR": str(tmp_path), "ALERTMANAGER_PORT": "29193", "WEBHOOK_PORT": "29195"}
    result = subprocess.run([str(ROOT / "deploy" / "stack"), "configs"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    prometheus, alertmanager = (Path(line) for line in result.stdout.split())
    run(tool("promtool"), "check", "config", str(prometheus))
    local, compose = yaml.safe_load(prometheus.read_text()), yaml.safe_load((PROM / "prometheus.yml").read_text())
    assert local["global"] == compose["global"]
    assert [Path(p) for p in local["rule_files"]] == [PROM / "rules" / "*.yml"]
    assert {Path(p).name for p in compose["rule_files"]} == {p.name for p in (PROM / "rules").glob("*.yml")}
    assert [j["job_name"] for j in local["scrape_configs"]] == [j["job_name"] for j in compose["scrape_configs"]]
    assert local["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:29193"]
    run(tool("amtool"), "check-config", str(alertmanager))
    routing = yaml.safe_load(alertmanager.read_text())
    assert {k: v for k, v in routing.items() if k != "receivers"} == {
        k: v for k, v in yaml.safe_load(ALERTMANAGER.read_text()).items() if k != "receivers"
    }
    urls = [w["url"] for r in routing["receivers"] for w in r.get("webhook_configs", [])]
    assert urls and all(url.startswith("http://127.0.0.1:29195/") for url in urls), urls
    info = json.loads((tmp_path / "monitoring.json").read_text())
    assert info["alertmanager"] == "http://127.0.0.1:29193" and info["targets_file"] == str(tmp_path / "prometheus-targets.json")
