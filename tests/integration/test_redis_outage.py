"""A Redis outage never loses an event: the store retries with backoff, so the worker's consumption
pauses on the event and carries on when Redis is back, applying it exactly once."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from contact_router.service import Result, RoutingService, SourceRecord
from contact_router.state.redis_store import RedisStore
from tests.factories import PSEUDONYMS, agent_in, contact, envelope

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnRedis:
    """A redis-server of the test's own, so it can be stopped and started (with its data on disk)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir),
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is missing: deploy/stack up installs it")
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    if server.proc and server.proc.poll() is None:
        server.stop()


def record(env, offset: int) -> SourceRecord:  # noqa: ANN001
    return SourceRecord("contact-events", 0, offset, env.domain.encode(), env.to_bytes(), env.timestamp)


async def test_processing_waits_out_an_outage_and_applies_the_event_once(own_redis: OwnRedis) -> None:
    store = RedisStore.from_url(f"redis://127.0.0.1:{own_redis.port}/0")
    service = RoutingService(store, pseudonyms=PSEUDONYMS)
    try:
        await service.process(record(envelope("agent.logged_in", agent_in("ann", {})), 0))
        own_redis.stop()
        arrival = envelope("contact.arrived", contact("c1", {}))
        pending = asyncio.create_task(service.process(record(arrival, 1)))
        await asyncio.sleep(1.5)
        assert not pending.done(), "the event must wait for Redis, not be skipped or dead-lettered"
        own_redis.start()
        processed = await asyncio.wait_for(pending, timeout=30)
        assert processed.result is Result.APPLIED
        assert orjson.loads(processed.outputs[0].value)["data"]["agent_id"] == "ann"
        # redelivered after the outage
        again = await RoutingService(store, pseudonyms=PSEUDONYMS).process(record(arrival, 1))
        assert again.result is Result.DUPLICATE and again.outputs == processed.outputs
        assert (await store.load("bank")).state.agents["ann"].active == {"c1": "voice"}
    finally:
        await store.close()
