"""Every panel of every board shows data on a live run (issue #4): a worker, a real Prometheus scraping
it every second with the repo's rule files, and the online simulator playing an understaffed center.

A panel "shows data" when its query, as Grafana would run it with every filter on All, returns at
least one sample that is a number (a ratio of two zero rates is NaN: Grafana draws nothing). Queries
are polled while the load runs, and a query counts once it has shown data at any moment: gauges of
momentary state (offers ringing, warnings firing) come and go, as they do on a real board.

The simulator plays arrivals, answers, missed offers, abandons and malformed inputs. It does not
transfer, take callbacks, collect CSAT or see the same customer twice, so a scripted desk in a
domain of its own does those things through the same topics, for the panels that count them.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka import AIOKafkaProducer

from contact_router.contract import Envelope
from contact_router.dashboards import panel_queries, substitute
from contact_router.processes import start_worker, stop_workers, wait_until_routing
from contact_router.settings import Settings
from contact_router.sim.platform import PlatformSimulator
from contact_router.sim.scenario import Scenario
from contact_router.staffing.forecast import ForecastProfile, save_profile
from tests.conftest import Services
from tests.e2e.pipeline import Pipeline
from tests.monitoring import get_json, prometheus_config, running_prometheus

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROMETHEUS_PORT, METRICS_PORT = 19640, 19641
LOAD_TIMEOUT = 120.0  # load runs until every query has shown data, or this long
POLL_EVERY = 2.0

# Queries that cannot return data on a single-worker local run, with the reason: (board uid, panel
# title, expr) -> why. Empty now: consumer lag and dependency reachability, which were listed here
# until main exported them, are produced by every worker. An entry that does return data fails the
# test, so the list cannot go stale.
CANNOT_HAVE_DATA: dict[tuple[str, str, str], str] = {}

# Short thresholds so that waits, warnings and evaluations happen within a minute, not a half hour.
# `sales` is the simulated queue (offers that ring); the desk's queues assign at once except `ring`,
# whose single agent never answers: its offers time out and the router sets the agent away.
ROUTING = {
    "default": {
        "service_level_seconds": 5,
        "expected_handle_seconds": 6,
        "alerts": {"sla_warn_after_seconds": 0, "evaluate_every_seconds": 2, "min_offered": 3, "patience_seconds": 8},
    },
    "queues": {
        "sales": {"offer_timeout_seconds": 8},
        "ring": {"offer_timeout_seconds": 2, "max_missed_offers": 1},
    },
    "forecasts": {"sales": "sales-forecast.yaml"},
}
FORECAST_PER_HALF_HOUR = 1000.0  # the simulated arrivals run a little above it

# Understaffed: 0.67 arrivals a second, 6 s handle time, 2 agents (4 Erlangs for 2 places), and
# customers who hang up after 8 s on average. Some offers ring out; some inputs are garbage.
SCENARIO = {
    "name": "live-panels",
    "domains": ["panels"],
    "queues": [
        {"name": "sales", "skills": {"sales": 1}, "arrivals_per_hour": 2400, "mean_handle_seconds": 6,
         "handle_sigma": 0.3, "mean_patience_seconds": 8},
    ],
    "agents": [{"name": "rep", "count": 2, "skills": {"sales": [1, 5]}, "home_share": 0.5}],
    "malformed_share": 0.05,
    "ring_seconds": 1.5,
    "answer_share": 0.9,
}


def now_envelope(type_: str, data: dict[str, Any], domain: str) -> Envelope:
    """Stamped with the wall clock, as a live platform would."""
    return Envelope(id=f"desk-{uuid.uuid4().hex}", type=type_, time=datetime.now(UTC), domain=domain,
                    source="tests", data=data)


@pytest.fixture
def worker(services: Services, tmp_path: Path) -> Iterator[tuple[Pipeline, Path]]:
    """One worker on its own topics, consumer group and key prefix, running the short thresholds."""
    pipe = Pipeline(services.kafka_bootstrap, uuid.uuid4().hex[:8])
    asyncio.run(pipe.create_topics())
    routing = tmp_path / "routing.yaml"
    routing.write_text(yaml.safe_dump(ROUTING))
    flat = [FORECAST_PER_HALF_HOUR] * 48
    save_profile(ForecastProfile(weekdays={day: flat for day in range(7)}, method="flat, for a test"),
                 tmp_path / "sales-forecast.yaml")
    env = pipe.worker_env(services.redis_url) | {
        "CONTACT_ROUTER_ROUTING_CONFIG": str(routing),
        "CONTACT_ROUTER_PER_AGENT_METRICS_LIMIT": "50",  # the leaderboard's series
        "CONTACT_ROUTER_HEALTH_INTERVAL_SECONDS": "1",
    }
    proc = start_worker(0, metrics_port=METRICS_PORT, log_path=tmp_path / "worker-0.log", env=env)
    try:
        wait_until_routing([METRICS_PORT], [proc], timeout=120)
        yield pipe, tmp_path
    finally:
        stop_workers([proc])
        log = (tmp_path / "worker-0.log").read_text(errors="replace")
        if "Traceback" in log:
            print(f"--- worker log\n{log[-4000:]}")


async def desk(pipe: Pipeline, domain: str) -> None:
    """What the simulator does not do, on a loop: a returning customer ("regular") is answered in
    `front`, transferred to `back` and rates the contact; another waits in a queue nobody can serve
    and asks for a callback; every other round a `ring` offer goes unanswered, the router sets its
    agent away, and a supervisor sets the agent available again; now and then an input is garbage."""
    producer = AIOKafkaProducer(bootstrap_servers=pipe.bootstrap, acks="all", linger_ms=0)
    await producer.start()

    async def send(type_: str, data: dict[str, Any], topic: str = "contact-events") -> None:
        await producer.send_and_wait(pipe.topics[topic], now_envelope(type_, data, domain).to_bytes(),
                                     key=domain.encode())

    try:
        for i, location in enumerate(["home", "office", "home"]):
            await send("agent.logged_in", {"agent_id": f"desk-{i}", "skills": {"care": 3}, "location": location},
                       "agent-events")
        await send("agent.logged_in", {"agent_id": "ringer", "skills": {"ring": 1}, "location": "office"},
                   "agent-events")
        await asyncio.sleep(1.5)  # agent and contact events travel on different topics
        for k in range(10_000):
            await send("contact.arrived", {"contact_id": f"f{k}", "channel": "voice", "queue": "front",
                                           "skills": {"care": 1}, "customer_ref": "regular"})
            await asyncio.sleep(0.3)
            await send("contact.transferred", {"contact_id": f"f{k}", "to_queue": "back"})
            await asyncio.sleep(0.3)
            await send("contact.ended", {"contact_id": f"f{k}", "resolved": True, "csat": 1 + k % 5})
            await send("contact.arrived", {"contact_id": f"cb{k}", "channel": "voice", "queue": "callbacks",
                                           "skills": {"callback_desk": 5}})
            await send("contact.callback_requested", {"contact_id": f"cb{k}"})
            if k:
                await send("contact.abandoned", {"contact_id": f"cb{k - 1}"})
            if k % 2 == 0:
                await send("contact.arrived", {"contact_id": f"r{k}", "channel": "voice", "queue": "ring",
                                               "skills": {"ring": 1}})
            else:  # the offer timed out (2 s) and paused the ringer; the contact skips it now
                await send("contact.abandoned", {"contact_id": f"r{k - 1}"})
                await send("agent.state_changed", {"agent_id": "ringer", "state": "available"}, "agent-events")
            if k % 5 == 0:  # a platform bug: the simulator's garbage alone is too rare to count on
                await producer.send_and_wait(pipe.topics["contact-events"], b'{"type": "contact.arrived"}',
                                             key=domain.encode())
            await asyncio.sleep(2.0)
    finally:
        await producer.stop()


def shows_data(prometheus: str, expr: str) -> bool:
    """At least one sample that is a number, as Grafana would draw it."""
    body = get_json(f"{prometheus}/api/v1/query?query={urllib.parse.quote(expr)}")
    assert body["status"] == "success", body
    data = body["data"]
    samples = [data["result"]] if data["resultType"] == "scalar" else [r["value"] for r in data["result"]]
    return any(not math.isnan(float(value)) for _, value in samples)


def poll(prometheus: str, queries: list[tuple[str, str, str]], deadline: float,
         first_data: dict[tuple[str, str, str], float]) -> list[tuple[str, str, str]]:
    """Query until every query has shown data once, or the deadline; returns those that never did.
    `first_data` gets when each query first showed data (seconds from the start of polling)."""
    started = time.monotonic()
    pending = list(queries)
    while pending and time.monotonic() < deadline:
        still = []
        for q in pending:
            if shows_data(prometheus, substitute(q[2])):
                first_data[q] = time.monotonic() - started
            else:
                still.append(q)
        pending = still
        if pending:
            time.sleep(POLL_EVERY)
    return pending


def test_every_panel_query_returns_data_on_a_live_run(worker: tuple[Pipeline, Path]) -> None:
    pipe, workdir = worker
    queries = panel_queries()
    assert queries, "no panel queries: the boards are empty"
    settings = Settings(
        kafka_bootstrap=pipe.bootstrap,
        **{f"topic_{name.replace('-', '_')}": topic for name, topic in pipe.topics.items()},
    )
    scenario = Scenario.model_validate(SCENARIO | {"routing": ROUTING | {"forecasts": {}}})
    simulator = PlatformSimulator(scenario, settings, seed=4, on_summary=lambda _: None)
    config = prometheus_config([f"127.0.0.1:{METRICS_PORT}"], alertmanager_port=0)
    del config["alerting"]  # alert delivery is tests/e2e/test_alert_delivery.py's business
    first_data: dict[tuple[str, str, str], float] = {}
    started = time.monotonic()

    with running_prometheus(PROMETHEUS_PORT, config, workdir / "prom") as prometheus:

        async def run() -> list[tuple[str, str, str]]:
            load = [asyncio.create_task(simulator.run()), asyncio.create_task(desk(pipe, f"desk-{pipe.suffix}"))]
            try:
                empty = await asyncio.to_thread(poll, prometheus, queries, time.monotonic() + LOAD_TIMEOUT, first_data)
            finally:
                for task in load:
                    task.cancel()
                for task in load:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            return empty

        empty = asyncio.run(run())
        rules = get_json(f"{prometheus}/api/v1/rules")["data"]["groups"]
    elapsed = time.monotonic() - started
    print(f"{len(queries)} queries, {len(queries) - len(empty)} with data after {elapsed:.0f} s of load; "
          f"simulator: {simulator.summary_line(elapsed).strip()}")
    for (board, title, expr), seconds in sorted(first_data.items(), key=lambda item: -item[1])[:3]:
        print(f"  slowest: {seconds:.0f} s  {board} / {title}: {expr}")

    assert rules, "Prometheus loaded none of deploy/prometheus/rules"
    broken = [(r["name"], r.get("lastError")) for g in rules for r in g["rules"] if r.get("health") == "err"]
    assert not broken, f"rules failing to evaluate: {broken}"
    unexplained = [q for q in empty if q not in CANNOT_HAVE_DATA]
    stale = [q for q in CANNOT_HAVE_DATA if q not in empty]
    assert not unexplained, "panels whose query returned no data:\n" + "\n".join(
        f"  {board} / {title}: {expr}" for board, title, expr in unexplained
    )
    assert not stale, "allow-listed queries that do return data (take them off CANNOT_HAVE_DATA):\n" + "\n".join(
        f"  {board} / {title}: {expr}" for board, title, expr in stale
    )
