"""An overloaded queue pages on-call through the real path: a worker's /metrics, scraped by a real
Prometheus evaluating the repo's rules, a real Alertmanager routing with the repo's config, and the
on-call webhook (a receiver in this test).

Honest about time: the rules are the repo's, `for: 1m` included, so the page cannot come sooner than
a minute after the breach shows. Only intervals shrink (tests/monitoring.py): scrapes and evaluations
every second instead of 5 s, and Alertmanager's first notification of a group after 1 s instead of 30 s.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from contact_router.contract import Envelope
from contact_router.monitoring.webhook import Notification, WebhookReceiver
from contact_router.processes import start_worker, stop_workers, wait_until_routing
from tests.conftest import Services
from tests.e2e.pipeline import Pipeline
from tests.factories import agent_in, contact, envelope
from tests.monitoring import alertmanager_config, get_json, prometheus_config, running_alertmanager, running_prometheus

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Outside the ports the session's e2e workers and other developers use.
METRICS_PORT, PROMETHEUS_PORT, ALERTMANAGER_PORT, WEBHOOK_PORT = 19480, 19490, 19493, 19499
QUEUE = "overload"
ARRIVALS_PER_SECOND = 2
PATIENCE_SECONDS = 5  # then the customer hangs up: abandoned, so offered but not met
PAGE_TIMEOUT = 150.0  # a minute of `for:`, plus the breach showing, plus slack for a busy machine


def live(type_: str, data: dict[str, Any], domain: str) -> Envelope:
    """Stamped with the wall clock, as a live platform would."""
    return envelope(type_, data, domain=domain).model_copy(update={"time": datetime.now(UTC)})


@pytest.fixture
def worker(services: Services, tmp_path: Path) -> Iterator[Pipeline]:
    """One worker on its own topics, consumer group and Redis key prefix, as the e2e conftest does."""
    pipe = Pipeline(services.kafka_bootstrap, uuid.uuid4().hex[:8])
    asyncio.run(pipe.create_topics())
    proc = start_worker(0, metrics_port=METRICS_PORT, log_path=tmp_path / "worker-0.log",
                        env=pipe.worker_env(services.redis_url))
    try:
        wait_until_routing([METRICS_PORT], [proc], timeout=120)
        yield pipe
    finally:
        stop_workers([proc])


async def overload(pipe: Pipeline, domain: str, until: asyncio.Event) -> int:
    """One agent, busy with the first contact for good; every other contact waits, then hangs up."""
    await pipe.publish([live("agent.logged_in", agent_in("ann", {}), domain)], topic="agent-events")
    await asyncio.sleep(1)
    waiting: list[tuple[float, str]] = []
    n = 0
    while not until.is_set():
        batch = []
        for _ in range(ARRIVALS_PER_SECOND):
            n += 1
            batch.append(live("contact.arrived", contact(f"c{n}", {}, queue=QUEUE), domain))
            waiting.append((time.monotonic(), f"c{n}"))
        while waiting and time.monotonic() - waiting[0][0] >= PATIENCE_SECONDS:
            _, contact_id = waiting.pop(0)
            if contact_id != "c1":  # ann has it
                batch.append(live("contact.abandoned", {"contact_id": contact_id}, domain))
        await pipe.publish(batch)
        await asyncio.sleep(1)
    return n


def explain(prometheus: str) -> str:
    """What Prometheus saw, for a failure message."""
    out = []
    for q in ("up", "queue:contact_router_service_level:ratio30m", "queue:contact_router_service_level_target:max",
              "queue:contact_router_service_level_offered:increase30m", "ALERTS"):
        result = get_json(f"{prometheus}/api/v1/query?query={urllib.parse.quote(q)}")["data"]["result"]
        out.append(f"{q}: {[(r['metric'], r['value'][1]) for r in result]}")
    return "\n".join(out)


def test_an_overloaded_queue_pages_on_call_through_prometheus_and_alertmanager(worker: Pipeline, tmp_path: Path) -> None:
    domain = f"sla-{uuid.uuid4().hex[:6]}"
    started = time.monotonic()
    with (
        WebhookReceiver(port=WEBHOOK_PORT, log=tmp_path / "alerts.log") as receiver,
        running_alertmanager(ALERTMANAGER_PORT, alertmanager_config(WEBHOOK_PORT), tmp_path / "am"),
        running_prometheus(PROMETHEUS_PORT, prometheus_config([f"127.0.0.1:{METRICS_PORT}"], ALERTMANAGER_PORT),
                           tmp_path / "prom") as prometheus,
    ):
        def paged(n: Notification) -> bool:
            return any(a["labels"].get("alertname") == "ContactRouterServiceLevelBreached"
                       and a["labels"].get("queue") == QUEUE for a in n.alerts)

        async def run() -> tuple[Notification, int]:
            stop = asyncio.Event()
            load = asyncio.create_task(overload(worker, domain, stop))
            try:
                page = await asyncio.to_thread(receiver.wait_for, paged, PAGE_TIMEOUT)
            finally:
                stop.set()
            return page, await load

        try:
            page, arrived = asyncio.run(run())
        except TimeoutError as exc:
            raise AssertionError(f"no page within {PAGE_TIMEOUT:.0f} s\n{explain(prometheus)}") from exc
    print(f"paged {time.monotonic() - started:.0f} s after Prometheus and Alertmanager started ({arrived} arrivals)")

    (alert,) = [a for a in page.alerts if a["labels"]["alertname"] == "ContactRouterServiceLevelBreached"]
    assert page.path == "/on-call" and page.receiver == "on-call"
    assert alert["status"] == "firing"
    assert alert["labels"] == {"alertname": "ContactRouterServiceLevelBreached", "severity": "page", "queue": QUEUE}
    assert alert["annotations"]["summary"].startswith(f"Service level of {QUEUE} is ")
    assert alert["annotations"]["summary"].endswith("below its target of 80%")
    assert alert["annotations"]["runbook_url"] == "docs/runbooks.md#contactrouterservicelevelbreached"
    assert "ContactRouterServiceLevelBreached" in (tmp_path / "alerts.log").read_text()
    # Pages do not go to supervisors.
    assert all(n.receiver == "on-call" for n in receiver.notifications if paged(n))
