"""The repo's Alertmanager routing, run by a real Alertmanager: pages reach on-call, warnings reach
supervisors, and a page about a queue holds back the warnings about that queue only. (`amtool config
routes test` checks the routing tree; only a running Alertmanager shows what inhibition does.)"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from contact_router.monitoring.webhook import Notification, WebhookReceiver
from tests.monitoring import alertmanager_config, get_json, post_json, running_alertmanager

pytestmark = [pytest.mark.integration]

ALERTMANAGER_PORT = 19494
WEBHOOK_PORT = 19498


def alert(name: str, severity: str, **labels: str) -> dict[str, object]:
    return {"labels": {"alertname": name, "severity": severity, **labels}, "annotations": {"summary": name}}


def delivered(receiver: WebhookReceiver) -> set[tuple[str, str, str]]:
    return {(n.receiver, a["labels"]["alertname"], a["labels"].get("queue", "")) for n in receiver.notifications
            for a in n.alerts}


def test_pages_reach_on_call_warnings_reach_supervisors_and_a_queue_page_holds_back_its_warnings(tmp_path: Path) -> None:
    with (
        WebhookReceiver(port=WEBHOOK_PORT) as receiver,
        running_alertmanager(ALERTMANAGER_PORT, alertmanager_config(WEBHOOK_PORT), tmp_path) as url,
    ):
        post_json(url + "/api/v2/alerts", [
            alert("ContactRouterServiceLevelBreached", "page", queue="billing"),
            alert("ContactRouterWorkerDown", "page", instance="w1:9300"),
        ])
        time.sleep(0.5)  # the pages are known before the warnings arrive, as when they fire first
        post_json(url + "/api/v2/alerts", [
            alert("ContactRouterContactWaitingLong", "warning", domain="bank", queue="billing"),
            alert("ContactRouterContactWaitingLong", "warning", domain="bank", queue="sales"),
            alert("ContactRouterDeadLettersRising", "warning", reason="invalid_json"),
        ])
        expected = {
            ("on-call", "ContactRouterServiceLevelBreached", "billing"),
            ("on-call", "ContactRouterWorkerDown", ""),
            ("supervisors", "ContactRouterContactWaitingLong", "sales"),
            # No queue, so the worker-down page does not hold it back.
            ("supervisors", "ContactRouterDeadLettersRising", ""),
        }

        def all_arrived(_: Notification) -> bool:
            return expected <= delivered(receiver)

        receiver.wait_for(all_arrived, timeout=30)
        state = {(a["labels"]["alertname"], a["labels"].get("queue", "")): a["status"]
                 for a in get_json(url + "/api/v2/alerts")}
        time.sleep(2)  # a group's wait (1 s here) more: the held-back warning must still not come
    assert delivered(receiver) == expected
    assert state[("ContactRouterContactWaitingLong", "billing")]["state"] == "suppressed"
    assert state[("ContactRouterContactWaitingLong", "billing")]["inhibitedBy"]
    assert state[("ContactRouterDeadLettersRising", "")]["state"] == "active"
