"""A worker SIGKILLed with an offer pending: the next worker re-arms the timer from Redis and the
offer still expires and moves on (promise 5 for time-driven work)."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from contact_router.processes import start_worker, stop_workers, wait_until_routing
from tests.conftest import Services
from tests.e2e.pipeline import Pipeline, of_type
from tests.e2e.test_timers import now
from tests.factories import agent_in, contact

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PORT = 19450


@pytest.fixture
async def lonely(services: Services, tmp_path: Path) -> AsyncIterator[tuple[Pipeline, dict[str, str], Path]]:
    pipe = Pipeline(services.kafka_bootstrap, uuid.uuid4().hex[:8])
    await pipe.create_topics()
    routing = tmp_path / "routing.yaml"
    routing.write_text("queues:\n  ring: {offer_timeout_seconds: 4}\n")
    env = pipe.worker_env(services.redis_url) | {"CONTACT_ROUTER_ROUTING_CONFIG": str(routing)}
    yield pipe, env, tmp_path


async def test_a_pending_offer_expires_after_its_worker_is_killed(lonely) -> None:  # noqa: ANN001
    pipe, env, logs = lonely
    first = start_worker(0, metrics_port=PORT, log_path=logs / "first.log", env=env)
    second = None
    try:
        wait_until_routing([PORT], [first])
        d = f"crash-{uuid.uuid4().hex[:6]}"
        await pipe.publish(
            [now("agent.logged_in", agent_in("ann", {}), d), now("agent.logged_in", agent_in("bob", {}), d)],
            topic="agent-events",
        )
        await asyncio.sleep(2)
        await pipe.publish([now("contact.arrived", contact("c1", {}, queue="ring"), d)])
        await pipe.read_until(lambda o: len(of_type(o, "contact.assigned", d)) >= 1, timeout=30)
        first.send_signal(signal.SIGKILL)  # no shutdown, no offset commit: only Redis remembers
        first.wait()
        second = start_worker(1, metrics_port=PORT + 1, log_path=logs / "second.log", env=env)
        wait_until_routing([PORT + 1], [second], timeout=120)
        # The timeout and the new offer are two outputs of one timer.fired: read until both are in
        # (a read could end between them).
        def moved_on(o: list[dict]) -> bool:
            offers = [a["data"]["agent_id"] for a in of_type(o, "contact.assigned", d)]
            return len(of_type(o, "contact.offer_timed_out", d)) >= 1 and "bob" in offers

        out = await pipe.read_until(moved_on, timeout=60)
        assigned = [o["data"]["agent_id"] for o in of_type(out, "contact.assigned", d)]
        # Redelivered inputs re-emit the first offer under the same id; then the offer moves to bob.
        assert assigned[0] == "ann" and assigned[-1] == "bob", assigned
        decisions = {o["id"]: o["data"] for o in of_type(out, "contact.assigned", d)}
        assert sorted(v["agent_id"] for v in decisions.values()) == ["ann", "bob"]
    finally:
        first.kill() if first.poll() is None else None
        stop_workers([p for p in (second,) if p is not None])
