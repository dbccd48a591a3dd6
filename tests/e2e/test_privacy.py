"""No customer reference leaves the boundary: a real worker over real Kafka and Redis routes contacts
carrying distinctive references (repeat customers, bad input, a domain at its contacts limit), then
its log (at debug level), its /metrics page, every Redis key and value under its prefix, every file
it wrote and every message on its output topics (dead letters' raw bytes decoded) are searched for
them. The pseudonyms, which the detectors link customers by, are there instead."""

from __future__ import annotations

import asyncio
import base64
import urllib.request
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer

from contact_router.processes import start_worker, stop_workers, wait_until_routing
from tests.conftest import Services
from tests.e2e.pipeline import Pipeline, of_type
from tests.e2e.test_timers import now
from tests.factories import PSEUDONYMS, agent_in, contact

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PORT = 19750
MAX_CONTACTS = 3
OUTPUT_TOPICS = ("routing-decisions", "escalation-alerts", "dead-letters")


@dataclass
class Run:
    pipe: Pipeline
    services: Services
    log_dir: Path

    @property
    def prefix(self) -> str:
        return self.pipe.worker_env(self.services.redis_url)["CONTACT_ROUTER_REDIS_KEY_PREFIX"]


@pytest.fixture
async def run(services: Services, tmp_path: Path) -> AsyncIterator[Run]:
    pipe = Pipeline(services.kafka_bootstrap, uuid.uuid4().hex[:8])
    await pipe.create_topics()
    env = pipe.worker_env(services.redis_url) | {
        "CONTACT_ROUTER_LOG_LEVEL": "debug",
        "CONTACT_ROUTER_MAX_CONTACTS_PER_DOMAIN": str(MAX_CONTACTS),
    }
    proc = start_worker(0, metrics_port=PORT, log_path=tmp_path / "worker-0.log", env=env)
    try:
        wait_until_routing([PORT], [proc], timeout=120)
        yield Run(pipe, services, tmp_path)
    finally:
        stop_workers([proc])


async def output_messages(pipe: Pipeline) -> list[bytes]:
    """Every key and value on the output topics, with dead letters' raw inputs decoded."""
    consumer = AIOKafkaConsumer(
        *(pipe.topics[t] for t in OUTPUT_TOPICS), bootstrap_servers=pipe.bootstrap,
        auto_offset_reset="earliest", enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    found: list[bytes] = []
    try:
        for _ in range(6):  # until a read brings nothing new
            batch = await consumer.getmany(timeout_ms=1000)
            if not batch and found:
                break
            for messages in batch.values():
                for m in messages:
                    found += [m.key or b"", m.value or b""]
                    doc = orjson.loads(m.value)
                    if doc["type"] == "dead_letter":
                        found.append(base64.b64decode(doc["data"]["raw_base64"]))
    finally:
        await consumer.stop()
    return found


async def redis_contents(url: str, prefix: str) -> list[bytes]:
    """Every key under the prefix and everything in it, whatever its type."""
    client = aioredis.Redis.from_url(url, decode_responses=False)
    found: list[bytes] = []
    try:
        async for key in client.scan_iter(match=f"{prefix}*", count=1000):
            found.append(key)
            kind = (await client.type(key)).decode()
            if kind == "string":
                found.append(await client.get(key) or b"")
            elif kind == "hash":
                found += [b for pair in (await client.hgetall(key)).items() for b in pair]
            elif kind == "zset":
                found += [member for member, _ in await client.zrange(key, 0, -1, withscores=True)]
            else:
                raise AssertionError(f"{key!r}: a {kind} key this test does not know how to read")
    finally:
        await client.aclose()
    return found


async def test_no_customer_reference_reaches_redis_outputs_logs_or_metrics(run: Run) -> None:
    pipe, d = run.pipe, f"priv-{uuid.uuid4().hex[:6]}"
    tag = uuid.uuid4().hex[:8]
    refs = {name: f"REF-{tag}-{name}" for name in ("repeat", "waits", "third", "over", "payload", "json", "key", "cb")}
    await pipe.publish([now("agent.logged_in", agent_in("ann", {}), d)], topic="agent-events")
    await asyncio.sleep(2)
    first = [
        now("contact.arrived", contact("c1", {}, customer_ref=refs["repeat"]), d),  # assigned to ann
        now("contact.ended", {"contact_id": "c1", "csat": 1}, d),
        now("contact.arrived", contact("c2", {}, channel="chat", customer_ref=refs["repeat"]), d),  # repeat, hop
        now("contact.arrived", contact("c3", {}, customer_ref=refs["waits"]), d),
        now("contact.arrived", contact("c4", {}, customer_ref=refs["third"]), d),  # the 3rd open contact
        now("contact.arrived", contact("c5", {}, customer_ref=refs["over"]), d),  # past the limit
        now("contact.arrived", contact("c3", {}, customer_ref=refs["waits"]), d),  # already there: rejected
        now("contact.arrived", contact("c6", {}, channel="fax", customer_ref=refs["payload"]), d),  # invalid
        now("contact.callback_requested", {"contact_id": "c9", "callback_ref": refs["cb"]}, d),  # unknown contact
    ]
    broken = (d, b'{"type": "contact.arrived", "data": {"customer_ref": "' + refs["json"].encode() + b'", ')
    wrong_key = (f"{d}-other", now("contact.arrived", contact("c7", {}, customer_ref=refs["key"]), d).to_bytes())
    await pipe.publish([*first, broken, wrong_key])

    def done(out: list[dict]) -> bool:
        alerts = {a["data"]["kind"] for a in of_type(out, "escalation.alert", d)}
        return {"repeat_contact", "channel_hop", "previous_csat_low"} <= alerts and len(of_type(out, "dead_letter")) >= 6

    out = await pipe.read_until(done, timeout=60, outputs=OUTPUT_TOPICS)
    assert len(of_type(out, "dead_letter")) == 6, [o["data"]["reason"] for o in of_type(out, "dead_letter")]
    await asyncio.sleep(1)  # let the worker finish writing (timers, logs) before searching

    with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/metrics", timeout=5) as response:
        metrics = response.read()
    assert b'contact_router_dead_letters_total{reason="too_many_contacts"} 1.0' in metrics
    places = {
        "output topics": await output_messages(pipe),
        "Redis": await redis_contents(run.services.redis_url, run.prefix),
        "/metrics": [metrics],
        "worker files": [p.read_bytes() for p in run.log_dir.rglob("*") if p.is_file()],
    }
    assert places["Redis"] and (run.log_dir / "worker-0.log").stat().st_size > 0
    leaks = [(name, where) for where, blobs in places.items() for name, ref in refs.items()
             if any(ref.encode() in blob for blob in blobs)]  # fmt: skip
    assert leaks == [], f"raw customer references found: {leaks}"
    # What is there instead: the pseudonyms, in Redis (contacts and histories) and in the dead letters.
    redis = b"\n".join(places["Redis"])
    assert all(PSEUDONYMS.of(refs[n]).encode() in redis for n in ("repeat", "waits", "third"))
    topics = b"\n".join(places["output topics"])
    assert all(PSEUDONYMS.of(refs[n]).encode() in topics for n in ("over", "payload", "json", "key", "cb", "waits"))
