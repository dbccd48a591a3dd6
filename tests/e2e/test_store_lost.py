"""Redis loses a running deployment's keys: the worker stops (exit 76) instead of routing on empty
state, a restarted worker waits, `contact-router rebuild` restores the state from Kafka, and routing
resumes with every decision id carrying one content."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from contact_router.processes import metric_value, start_worker, stop_workers, wait_until_routing
from contact_router.stream.health import EXIT_STORE_LOST
from tests.conftest import Services
from tests.e2e.pipeline import Pipeline, of_type
from tests.e2e.test_timers import now
from tests.factories import agent_in, contact

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PORT = 19710  # this engineer's range: 19700-19749


async def test_a_lost_store_stops_routing_until_rebuilt_then_routing_resumes(services: Services, tmp_path: Path) -> None:
    pipe = Pipeline(services.kafka_bootstrap, uuid.uuid4().hex[:8])
    await pipe.create_topics()
    env = pipe.worker_env(services.redis_url) | {"CONTACT_ROUTER_HEALTH_INTERVAL_SECONDS": "1"}
    prefix = env["CONTACT_ROUTER_REDIS_KEY_PREFIX"]
    first = start_worker(0, metrics_port=PORT, log_path=tmp_path / "first.log", env=env)
    second: subprocess.Popen[bytes] | None = None
    client = aioredis.Redis.from_url(services.redis_url)
    d = f"lost-{uuid.uuid4().hex[:6]}"
    try:
        wait_until_routing([PORT], [first])
        await pipe.publish([now("agent.logged_in", agent_in("ann", {}), d)], topic="agent-events")
        await pipe.publish([now("contact.arrived", contact("c1", {}), d)])
        await pipe.read_until(lambda o: len(of_type(o, "contact.assigned", d)) == 1, timeout=30)

        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        assert keys and await client.delete(*keys) == len(keys)  # this deployment's keys only, never FLUSHALL
        await pipe.publish([now("contact.arrived", contact("c2", {}), d)])
        assert first.wait(timeout=30) == EXIT_STORE_LOST
        # It wrote no state. The deadline index may hold the domain again: that hint goes in the same
        # round trip as the commit that found the store gone, and the rebuild wipes it with the rest.
        left = [k async for k in client.scan_iter(match=f"{prefix}:*")]
        assert [k for k in left if k != f"{prefix}:deadlines".encode()] == []

        second = start_worker(1, metrics_port=PORT + 1, log_path=tmp_path / "second.log", env=env)
        deadline = time.monotonic() + 30
        while metric_value(PORT + 1, "contact_router_assigned_partitions") is None and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(3)
        assert second.poll() is None and metric_value(PORT + 1, "contact_router_assigned_partitions") == 0

        # The killed worker stays in the group until its session times out: the rebuild refuses till then.
        deadline = time.monotonic() + 60
        while True:
            rebuilt = subprocess.run(
                [sys.executable, "-m", "contact_router.cli", "rebuild"],
                env={**os.environ, **env, "CONTACT_ROUTER_LOG_LEVEL": "info"}, capture_output=True, text=True, timeout=60,
            )
            if rebuilt.returncode != 2 or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        assert "replayed 3 input records of 1 domains" in rebuilt.stdout and "differs" not in rebuilt.stdout, rebuilt.stdout

        wait_until_routing([PORT + 1], [second], timeout=120)
        out = await pipe.read_until(lambda o: any(q["data"]["contact_id"] == "c2" for q in of_type(o, "contact.queued", d)), timeout=60)
        by_id: dict[str, dict] = {}
        for o in of_type(out, "contact.assigned", d) + of_type(out, "contact.queued", d):
            assert by_id.setdefault(o["id"], o["data"]) == o["data"], o["id"]
        assert [o["data"]["contact_id"] for o in of_type(out, "contact.assigned", d)] == ["c1"] * len(of_type(out, "contact.assigned", d))
    finally:
        stop_workers([p for p in (first, second) if p is not None])
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()
