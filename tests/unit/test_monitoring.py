"""The monitoring helpers the demo and the stack use: the webhook receiver, the targets file, and
what the demo prints about where to look."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from contact_router.monitoring.local import LocalMonitoring, where_to_look
from contact_router.monitoring.targets import write_targets
from contact_router.monitoring.webhook import WebhookReceiver

# The shape Alertmanager posts (webhook payload version 4), trimmed to what the receiver reads.
PAYLOAD = {
    "version": "4",
    "status": "firing",
    "receiver": "on-call",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "ContactRouterServiceLevelBreached", "severity": "page", "queue": "billing"},
            "annotations": {"summary": "Service level of billing is 50% over 30 minutes"},
        }
    ],
}


def post(url: str, body: dict[str, object]) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return int(response.status)


def test_the_receiver_keeps_and_logs_each_alert_it_is_sent(tmp_path: Path) -> None:
    log = tmp_path / "alerts.log"
    with WebhookReceiver(port=0, log=log) as receiver:
        assert post(f"http://127.0.0.1:{receiver.port}/on-call", PAYLOAD) == 200
        got = receiver.wait_for(lambda n: n.receiver == "on-call", timeout=5)
    assert got.path == "/on-call" and got.alerts[0]["labels"]["queue"] == "billing"
    (line,) = log.read_text().splitlines()
    assert line.endswith(
        "on-call FIRING ContactRouterServiceLevelBreached queue=billing severity=page: "
        "Service level of billing is 50% over 30 minutes"
    )


def test_the_targets_file_lists_the_workers_then_nothing(tmp_path: Path) -> None:
    path = tmp_path / "run" / "prometheus-targets.json"
    write_targets(path, [9300, 9301])
    assert json.loads(path.read_text()) == [{"targets": ["127.0.0.1:9300", "127.0.0.1:9301"], "labels": {}}]
    write_targets(path, [])  # the demo stopped: Prometheus must not page about its workers
    assert json.loads(path.read_text()) == []


def test_the_demo_says_where_to_look_and_what_does_not_answer(tmp_path: Path) -> None:
    assert "deploy/stack up" in where_to_look(None)[0]
    with WebhookReceiver(port=0) as receiver:
        (tmp_path / "monitoring.json").write_text(json.dumps({
            "prometheus": "http://127.0.0.1:1", "alertmanager": "http://127.0.0.1:1",
            "webhook": f"http://127.0.0.1:{receiver.port}", "alerts_log": str(tmp_path / "alerts.log"),
            "targets_file": str(tmp_path / "prometheus-targets.json"),
        }))
        info = LocalMonitoring.load(tmp_path)
        assert info is not None
        prometheus, alertmanager, alerts, compose = where_to_look(info)
    assert "http://127.0.0.1:1/alerts" in prometheus and "not answering" in prometheus
    assert "amtool --alertmanager.url=http://127.0.0.1:1" in alertmanager and "not answering" in alertmanager
    assert str(tmp_path / "alerts.log") in alerts and "not answering" not in alerts
    assert "Grafana http://localhost:3000" in compose
