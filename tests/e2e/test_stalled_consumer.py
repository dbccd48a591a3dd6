"""A worker whose consumer stops fetching (as in faust-streaming #175, #523, #629) exposes the stall,
exits with its own code for its supervisor to restart it, and a fresh worker routes what waited."""

from __future__ import annotations

import asyncio
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from contact_router.processes import start_worker, stop_workers, wait_until_routing
from contact_router.stream.health import EXIT_CONSUMER_STALLED
from tests.conftest import Services
from tests.e2e.pipeline import Pipeline, of_type
from tests.e2e.test_timers import now
from tests.factories import agent_in, contact

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PORT = 19700  # this engineer's range: 19700-19749


def stalled_partitions(port: int) -> list[str]:
    """The `contact_router_consumer_stalled` series at 1 on a worker's /metrics (none if it is gone)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return []
    return [
        line.split(" ")[0]
        for line in text.splitlines()
        if line.startswith("contact_router_consumer_stalled{") and float(line.rsplit(" ", 1)[1]) == 1.0
    ]


async def test_a_consumer_that_stops_fetching_is_exposed_then_restarted(services: Services, tmp_path: Path) -> None:
    pipe = Pipeline(services.kafka_bootstrap, uuid.uuid4().hex[:8])
    await pipe.create_topics()
    pause = tmp_path / "pause"
    env = pipe.worker_env(services.redis_url) | {
        "CONTACT_ROUTER_HEALTH_INTERVAL_SECONDS": "0.5",
        "CONTACT_ROUTER_CONSUMER_STALL_SECONDS": "3",
        "CONTACT_ROUTER_CONSUMER_STALL_RESTART_SECONDS": "4",
        "CONTACT_ROUTER_CHAOS_PAUSE_FILE": str(pause),
    }
    first = start_worker(0, metrics_port=PORT, log_path=tmp_path / "first.log", env=env)
    second: subprocess.Popen[bytes] | None = None
    d = f"stall-{uuid.uuid4().hex[:6]}"
    try:
        wait_until_routing([PORT], [first])
        await pipe.publish([now("agent.logged_in", agent_in("ann", {}, capacity={"voice": 2}), d)], topic="agent-events")
        await pipe.publish([now("contact.arrived", contact("c1", {}), d)])
        await pipe.read_until(lambda o: len(of_type(o, "contact.assigned", d)) == 1, timeout=30)
        assert stalled_partitions(PORT) == []

        pause.touch()  # the worker stops fetching at its next health check; it stays up and heartbeats
        await asyncio.sleep(1.5)
        await pipe.publish([now("contact.arrived", contact("c2", {}), d)])
        seen: list[str] = []
        deadline = time.monotonic() + 30
        while not seen and first.poll() is None and time.monotonic() < deadline:
            seen = stalled_partitions(PORT)
            await asyncio.sleep(0.3)
        assert seen and all(f'topic="{pipe.topics["contact-events"]}"' in s for s in seen), seen
        assert first.wait(timeout=30) == EXIT_CONSUMER_STALLED

        # What a supervisor does: start the worker again. The waiting contact gets its agent.
        pause.unlink()
        second = start_worker(1, metrics_port=PORT + 1, log_path=tmp_path / "second.log", env=env)
        wait_until_routing([PORT + 1], [second], timeout=120)
        out = await pipe.read_until(lambda o: len(of_type(o, "contact.assigned", d)) >= 2, timeout=60)
        assert sorted(o["data"]["contact_id"] for o in of_type(out, "contact.assigned", d)) == ["c1", "c2"]
        assert stalled_partitions(PORT + 1) == []
    finally:
        stop_workers([p for p in (first, second) if p is not None])
