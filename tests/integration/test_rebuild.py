"""Promise 5: Redis state lost (only this test's keys are deleted, by prefix) is rebuilt from the input
topics equal to what it was, and routing carries on from it without breaking promises 1, 2 and 4."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from contact_router.contract import Envelope
from contact_router.security import redis_client
from contact_router.service import Processed, Result, RoutingService, SourceRecord
from contact_router.settings import Settings
from contact_router.state.store import StoreLost
from contact_router.stream.rebuild import RebuildRefused, rebuild, records_held, wait_for_store
from contact_router.stream.timers import TimerScheduler, timer_event
from contact_router.stream.worker import build_service, build_store
from tests.conftest import Services
from tests.factories import CUSTOMER_REF_KEY, agent_in, contact, envelope

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROUTING = """
queues:
  ring: {offer_timeout_seconds: 5, max_missed_offers: 3}
  wrap: {wrap_up_seconds: 4}
"""


@dataclass
class Live:
    """Routes as a worker that keeps up with its input does: each event is published, then applied
    at its offset; its outputs are published; the domains' timers fire as timer.fired records on
    contact-events when event time reaches them. Record times are the events' times."""

    settings: Settings
    producer: AIOKafkaProducer
    service: RoutingService
    scheduler: TimerScheduler = field(default_factory=TimerScheduler)
    processed: list[tuple[SourceRecord, Processed]] = field(default_factory=list)

    async def send(self, env: Envelope, topic: str | None = None) -> Processed:
        await self.fire_timers(env.timestamp)
        return await self._apply(topic or self.settings.topic_contact_events, env.domain, env.to_bytes(), env.timestamp)

    async def send_raw(self, domain: str, raw: bytes, at: float) -> Processed:
        return await self._apply(self.settings.topic_contact_events, domain, raw, at)

    async def fire_timers(self, until: float) -> None:
        while due := self.scheduler.due(until):
            for domain, deadline in due:
                await self._apply(self.settings.topic_contact_events, domain, timer_event(domain, deadline).to_bytes(), deadline)

    async def _apply(self, topic: str, domain: str, value: bytes, at: float) -> Processed:
        meta = await self.producer.send_and_wait(topic, value, key=domain.encode(), timestamp_ms=int(at * 1000))
        record = SourceRecord(topic, meta.partition, meta.offset, domain.encode(), value, meta.timestamp / 1000)
        processed = await self.service.process(record)
        for out in processed.outputs:
            await self.producer.send_and_wait(out.topic, out.value, key=out.key.encode())
        if processed.domain is not None:
            self.scheduler.set(processed.domain, processed.next_deadline)
        self.processed.append((record, processed))
        return processed


@pytest.fixture(params=["redis", "cluster"])
async def settings(
    request: pytest.FixtureRequest, services: Services, unique: str, tmp_path: Path
) -> AsyncIterator[Settings]:
    """One Redis server, or a three-node Redis Cluster (keys over nodes, SCAN and DEL per node)."""
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING)
    cluster = request.param == "cluster"
    s = Settings(
        kafka_bootstrap=services.kafka_bootstrap,
        redis_url=request.getfixturevalue("redis_cluster").url if cluster else services.redis_url,  # type: ignore[arg-type]
        redis_cluster=cluster,
        app_id=f"rebuild-{unique}",
        redis_key_prefix=f"rebuild-{unique}",
        topic_contact_events=f"contact-events-{unique}",
        topic_agent_events=f"agent-events-{unique}",
        topic_routing_decisions=f"routing-decisions-{unique}",
        topic_escalation_alerts=f"escalation-alerts-{unique}",
        topic_dead_letters=f"dead-letters-{unique}",
        routing_config=routing,
        customer_ref_key=CUSTOMER_REF_KEY,  # type: ignore[arg-type]
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=s.kafka_bootstrap)
    await admin.start()
    try:
        names = [s.topic_contact_events, s.topic_agent_events, s.topic_routing_decisions, s.topic_escalation_alerts, s.topic_dead_letters]
        await admin.create_topics([NewTopic(name, 3, 1) for name in names])
    finally:
        await admin.close()
    yield s
    client = redis_client(s)
    await delete_prefix(client, s.redis_key_prefix)
    await client.aclose()


async def delete_prefix(client: aioredis.Redis | aioredis.RedisCluster, prefix: str) -> int:
    """What losing Redis looks like to this test: its own keys gone (SCAN by prefix, never FLUSHALL)."""
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
    return await client.delete(*keys) if keys else 0


async def dump(client: aioredis.Redis | aioredis.RedisCluster, prefix: str) -> dict[bytes, Any]:
    """Every key of the namespace with its value (hashes, strings, sorted sets), the marker aside."""
    out: dict[bytes, Any] = {}
    async for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        if key.endswith(b":store-marker"):
            continue
        kind = (await client.type(key)).decode()
        if kind == "hash":
            out[key] = await client.hgetall(key)
        elif kind == "string":
            out[key] = await client.get(key)
        elif kind == "zset":
            out[key] = await client.zrange(key, 0, -1, withscores=True)
        else:
            raise AssertionError(f"unexpected {kind} at {key!r}")
    return out


async def scenario(live: Live, d: str) -> None:
    """Offers that time out and move on, wrap-up, abandonment, a repeat caller, an agent going away
    and back, and a malformed record; agent and contact events interleaved."""
    agents = live.settings.topic_agent_events
    await live.send(envelope("agent.logged_in", agent_in("ann", {"s": 5}), domain=d, at=0), agents)
    await live.send(envelope("agent.logged_in", agent_in("bob", {"s": 3}, capacity={"voice": 1, "chat": 2}), domain=d, at=1), agents)
    await live.send(envelope("contact.arrived", contact("c1", {"s": 1}, queue="ring"), domain=d, at=2))
    await live.send(envelope("contact.arrived", contact("c2", {}, channel="chat"), domain=d, at=3))
    await live.send(envelope("contact.arrived", contact("c3", {}, customer_ref="cust-9"), domain=d, at=4))
    await live.send(envelope("contact.ended", {"contact_id": "c3", "csat": 4}, domain=d, at=9))
    await live.send(envelope("contact.arrived", contact("c4", {}, queue="wrap"), domain=d, at=10))
    await live.send(envelope("contact.arrived", contact("c5", {}, channel="chat"), domain=d, at=11))
    await live.send(envelope("contact.arrived", contact("c6", {}), domain=d, at=12))
    await live.send(envelope("agent.state_changed", {"agent_id": "ann", "state": "away", "reason": "break"}, domain=d, at=13), agents)
    await live.send(envelope("contact.abandoned", {"contact_id": "c6"}, domain=d, at=14))
    await live.send_raw(d, b"{not json", at=live.processed[-1][0].timestamp)
    await live.send(envelope("contact.ended", {"contact_id": "c4"}, domain=d, at=16))
    await live.send(envelope("contact.arrived", contact("c7", {}, customer_ref="cust-9"), domain=d, at=17))
    await live.send(envelope("agent.state_changed", {"agent_id": "ann", "state": "available"}, domain=d, at=24), agents)
    await live.send(envelope("contact.ended", {"contact_id": "c2", "csat": 2}, domain=d, at=25))
    await live.fire_timers(26)


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[Live]:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    store = build_store(settings, guard_marker=True)
    await wait_for_store(settings, build_store(settings))  # a first start: topics empty, so the marker is written
    try:
        yield Live(settings, producer, build_service(settings, store))
    finally:
        await producer.stop()
        await store.close()


def outputs(processed: list[tuple[SourceRecord, Processed]], topic: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(domain, id) -> output, asserting that no id was emitted with two contents. Per domain: alert
    ids are built from contact ids, which two domains may share."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for _, p in processed:
        for o in p.outputs:
            if o.topic == topic:
                doc = orjson.loads(o.value)
                key = (doc["domain"], doc["id"])
                assert out.setdefault(key, doc) == doc, f"two different outputs under one id {key}"
    return out


async def test_lost_state_is_rebuilt_equal_and_routing_carries_on(settings: Settings, live: Live, services: Services) -> None:
    d, other = "bank-a", "bank-b"
    await scenario(live, d)
    await scenario(live, other)
    assert {p.result for _, p in live.processed} >= {Result.APPLIED, Result.DEAD_LETTER}
    client = redis_client(settings)
    store = build_store(settings)
    try:
        before = await dump(client, settings.redis_key_prefix)
        assert any(b":event:timer:" in k for k in before), "the scenario must include fired timers"

        assert await delete_prefix(client, settings.redis_key_prefix) > 0  # Redis lost this deployment's keys
        # The worker routing on it notices at its next load, and writes nothing.
        late = envelope("contact.arrived", contact("late", {}), domain=d, at=27)
        with pytest.raises(StoreLost):
            await live.service.process(SourceRecord("contact-events", 0, 999, d.encode(), late.to_bytes(), late.timestamp))
        # So does a batch of several domains, whose commits run side by side: still StoreLost, which
        # the worker exits on, not a group of errors.
        late_other = envelope("contact.arrived", contact("late", {}), domain=other, at=27)
        with pytest.raises(StoreLost):
            await live.service.process_batch(
                [
                    SourceRecord("contact-events", 0, 999, d.encode(), late.to_bytes(), late.timestamp),
                    SourceRecord("contact-events", 1, 999, other.encode(), late_other.to_bytes(), late_other.timestamp),
                ]
            )
        assert await dump(client, settings.redis_key_prefix) == {}
        # A worker starting now waits for the rebuild instead of routing on empty state.
        assert await records_held(settings) > 0
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(wait_for_store(settings, store, poll_seconds=0.2), timeout=2)

        report = await rebuild(settings, store, lambda target: build_service(settings, target))
        after = await dump(client, settings.redis_key_prefix)
        assert after.keys() == before.keys()
        assert after == before
        assert await store.marker() is not None
        published = len(outputs(live.processed, settings.topic_routing_decisions))
        assert report.decisions == {"matched": published}, report.render()
        assert report.domains == {d, other} and report.dead_letters == {"invalid_json": 2}
        await asyncio.wait_for(wait_for_store(settings, store), timeout=5)  # workers may start now

        # Routing resumes on the rebuilt state. The worker restarts from an older committed offset:
        # redelivered events give back exactly their first outputs (promise 4).
        resumed = Live(settings, live.producer, build_service(settings, build_store(settings, guard_marker=True)), live.scheduler)
        for record, first in live.processed[-4:]:
            again = await resumed.service.process(record)
            assert again.result is Result.DUPLICATE and again.outputs == first.outputs
        # The platform carries on from what it was told: offers answered, contacts in progress ended.
        await resumed.send(envelope("contact.arrived", contact("c8", {"s": 4}, queue="ring"), domain=d, at=28))
        at = 29.0
        for c in sorted((await store.load(d)).state.contacts.values(), key=lambda c: c.contact_id):
            if c.offer_pending():
                await resumed.send(envelope("contact.accepted", {"contact_id": c.contact_id, "agent_id": c.agent_id}, domain=d, at=at))
                at += 1
        for c in sorted((await store.load(d)).state.contacts.values(), key=lambda c: c.contact_id):
            if c.agent_id is not None:
                await resumed.send(envelope("contact.ended", {"contact_id": c.contact_id}, domain=d, at=at))
                at += 1
        await resumed.fire_timers(at + 30)
        assert all(p.result in (Result.APPLIED, Result.DEAD_LETTER) for _, p in resumed.processed), [
            (p.result, p.reason) for _, p in resumed.processed
        ]

        both = live.processed + resumed.processed
        outputs(both, settings.topic_escalation_alerts)  # asserts one content per id
        everything = outputs(both, settings.topic_routing_decisions)
        state = (await store.load(d)).state
        for agent in state.agents.values():  # promise 2
            for channel, cap in agent.capacity.items():
                assert agent.load(channel) <= cap, (agent.agent_id, channel)
        arrived = {"c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"}
        closed = {o["data"]["contact_id"] for o in everything.values() if o["type"] == "contact.closed" and o["domain"] == d}
        assert arrived == closed | set(state.contacts), "a contact was lost"  # promise 1
        assert not closed & set(state.contacts)
    finally:
        await store.close()
        await client.aclose()


async def test_one_domain_is_rebuilt_alone_and_a_dry_run_changes_nothing(settings: Settings, live: Live, services: Services) -> None:
    await scenario(live, "bank-a")
    await scenario(live, "bank-b")
    client = redis_client(settings)
    store = build_store(settings)
    try:
        before = await dump(client, settings.redis_key_prefix)
        report = await rebuild(settings, store, lambda target: build_service(settings, target), dry_run=True)
        assert report.differing_domains == [] and await dump(client, settings.redis_key_prefix) == before

        # bank-a's agents are damaged; a dry run says which domain differs, a rebuild of it repairs it.
        await client.hdel(store.keys("bank-a").agents, "ann")
        report = await rebuild(settings, store, lambda target: build_service(settings, target), dry_run=True)
        assert report.differing_domains == ["bank-a"]
        report = await rebuild(settings, store, lambda target: build_service(settings, target), domains={"bank-a"})
        assert report.domains == {"bank-a"}
        assert await dump(client, settings.redis_key_prefix) == before
    finally:
        await store.close()
        await client.aclose()


async def test_rebuild_refuses_while_a_worker_is_in_the_group(settings: Settings, live: Live) -> None:
    await scenario(live, "bank-a")
    member = AIOKafkaConsumer(settings.topic_contact_events, bootstrap_servers=settings.kafka_bootstrap, group_id=settings.app_id)
    await member.start()
    store = build_store(settings)
    try:
        await member.getmany(timeout_ms=3000)  # joined
        with pytest.raises(RebuildRefused):
            await rebuild(settings, store, lambda target: build_service(settings, target))
        assert await store.marker() is not None  # untouched
    finally:
        await member.stop()
        await store.close()
