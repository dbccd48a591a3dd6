"""The platform simulator: plays the telephony/chat platform and its people against the real pipeline.

It publishes agent logins and Poisson contact arrivals to Kafka, reads the routing decisions back,
ends assigned contacts after a lognormal handle time, and abandons contacts whose patience runs out.
Decision latency is wall time from publishing the triggering event to reading the decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contact_router.contract import Envelope
from contact_router.security import aiokafka_kwargs
from contact_router.settings import Settings
from contact_router.sim.scenario import AgentGroupSpec, QueueSpec, Scenario

SOURCE = "simulator"


@dataclass
class Stats:
    arrived: int = 0
    assigned: int = 0
    completed: int = 0
    abandoned: int = 0
    dead_letters: int = 0
    malformed_sent: int = 0
    answered_within_20s: int = 0
    abandoned_while_waiting: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, since the last summary
    all_latencies: list[float] = field(default_factory=list)

    @property
    def waiting(self) -> int:
        return self.arrived - self.assigned - self.abandoned_while_waiting


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass
class _Contact:
    domain: str
    queue: QueueSpec
    assigned: bool = False  # routed at least once
    connected: bool = False  # the agent answered (or the assignment was final)
    offered_to: str | None = None  # ringing this agent now
    abandoned: bool = False


class PlatformSimulator:
    def __init__(
        self,
        scenario: Scenario,
        settings: Settings,
        *,
        seed: int = 7,
        duration: float | None = None,
        summary_every: float = 5.0,
        on_summary: Callable[[str], None] = print,
        run_id: str | None = None,
    ) -> None:
        self.scenario = scenario
        self.settings = settings
        self.rng = random.Random(seed)
        self.duration = duration
        self.summary_every = summary_every
        self.on_summary = on_summary
        self.run_id = run_id or uuid.uuid4().hex[:8]
        self.stats = Stats()
        # Each run plays its own domains: live state left in Redis by an earlier run (agents holding
        # contacts that run never ended) must not leak into this one.
        self.domains = [f"{d}-{self.run_id}" for d in scenario.domains]
        self._contacts: dict[str, _Contact] = {}
        self._sent_at: dict[str, float] = {}
        self._producer: AIOKafkaProducer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._seq = 0
        self._contact_seq = 0

    # ------------------------------------------------------------ running

    async def run(self) -> Stats:
        s = self.settings
        self._producer = AIOKafkaProducer(**aiokafka_kwargs(s), acks="all", linger_ms=0)
        consumer = AIOKafkaConsumer(**aiokafka_kwargs(s), enable_auto_commit=False)
        await self._producer.start()
        await consumer.start()
        try:
            await self._from_end(consumer, [s.topic_routing_decisions, s.topic_dead_letters])
            reader = asyncio.create_task(self._read_outputs(consumer))
            await self._log_in_agents()
            arrivals = [
                asyncio.create_task(self._arrivals(domain, queue))
                for domain in self.domains
                for queue in self.scenario.queues
            ]
            summary = asyncio.create_task(self._summaries())
            try:
                if self.duration is None:
                    await asyncio.Event().wait()
                else:
                    await asyncio.sleep(self.duration)
            finally:
                for task in [*arrivals, summary, reader, *self._tasks]:
                    task.cancel()
                await asyncio.gather(*arrivals, summary, reader, *self._tasks, return_exceptions=True)
        finally:
            await consumer.stop()
            await self._producer.stop()
        return self.stats

    async def _from_end(self, consumer: AIOKafkaConsumer, topics: list[str]) -> None:
        """Read decisions from the current end: pin positions before publishing anything."""
        partitions = []
        for topic in topics:
            for p in await _partitions_of(consumer, topic):
                partitions.append(TopicPartition(topic, p))
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:
            await consumer.position(tp)

    def _spawn_later(self, delay: float, coro_factory: Callable[[], Any]) -> None:
        async def later() -> None:
            await asyncio.sleep(delay)
            await coro_factory()

        task = asyncio.create_task(later())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ publishing

    def _event_id(self) -> str:
        self._seq += 1
        return f"sim-{self.run_id}-{self._seq}"

    async def publish(self, topic: str, domain: str, type_: str, data: dict[str, Any]) -> str:
        assert self._producer is not None
        env = Envelope(
            id=self._event_id(), type=type_, time=datetime.now(UTC), domain=domain, source=SOURCE, data=data
        )
        self._sent_at[env.id] = time.perf_counter()
        await self._producer.send(topic, env.to_bytes(), key=domain.encode())
        return env.id

    async def _log_in_agents(self) -> None:
        for domain in self.domains:
            for group in self.scenario.agents:
                for i in range(group.count):
                    await self.publish(
                        self.settings.topic_agent_events, domain, "agent.logged_in", self._agent(group, i)
                    )

    def _agent(self, group: AgentGroupSpec, i: int) -> dict[str, Any]:
        return {
            "agent_id": f"{group.name}-{i:04d}",
            "skills": {skill: self.rng.randint(lo, hi) for skill, (lo, hi) in group.skills.items()},
            "capacity": {str(ch): n for ch, n in group.capacity.items()},
            "languages": group.languages,
            "location": "home" if self.rng.random() < group.home_share else "office",
        }

    async def _arrivals(self, domain: str, queue: QueueSpec) -> None:
        rate = queue.arrivals_per_hour / 3600.0
        topic = self.settings.topic_contact_events
        while True:
            await asyncio.sleep(self.rng.expovariate(rate))
            self._contact_seq += 1
            contact_id = f"c-{self.run_id}-{self._contact_seq}"
            self._contacts[contact_id] = _Contact(domain, queue)
            self.stats.arrived += 1
            data: dict[str, Any] = {
                "contact_id": contact_id,
                "channel": str(queue.channel),
                "queue": queue.name,
                "skills": queue.skills,
                "priority": queue.priority,
                "customer_ref": uuid.UUID(int=self.rng.getrandbits(128)).hex,
            }
            if queue.language:
                data["language"] = queue.language
            await self.publish(topic, domain, "contact.arrived", data)
            patience = self.rng.expovariate(1.0 / queue.mean_patience_seconds)
            self._spawn_later(patience, lambda cid=contact_id: self._maybe_abandon(cid))
            if self.rng.random() < self.scenario.malformed_share:
                await self._publish_malformed(domain)

    async def _publish_malformed(self, domain: str) -> None:
        assert self._producer is not None
        self.stats.malformed_sent += 1
        bad = self.rng.choice([b"{not json", b'{"type": "contact.arrived"}', b'"just a string"'])
        await self._producer.send(self.settings.topic_contact_events, bad, key=domain.encode())

    async def _maybe_abandon(self, contact_id: str) -> None:
        contact = self._contacts.get(contact_id)
        if contact is None or contact.connected:
            return
        contact.abandoned = True
        if not contact.assigned:
            self.stats.abandoned_while_waiting += 1  # never routed: no longer waiting
        await self.publish(
            self.settings.topic_contact_events, contact.domain, "contact.abandoned", {"contact_id": contact_id}
        )

    async def _answer(self, contact_id: str, agent_id: str, waited: float) -> None:
        """The ringing agent answers, unless the offer moved on (timed out) or the customer left."""
        contact = self._contacts.get(contact_id)
        if contact is None or contact.abandoned or contact.connected or contact.offered_to != agent_id:
            return
        await self.publish(
            self.settings.topic_contact_events,
            contact.domain,
            "contact.accepted",
            {"contact_id": contact_id, "agent_id": agent_id},
        )
        self._connect(contact_id, contact, waited)

    def _connect(self, contact_id: str, contact: _Contact, waited: float) -> None:
        contact.connected = True
        if waited <= self.scenario.routing.policy(contact.queue.name).service_level_seconds:
            self.stats.answered_within_20s += 1
        q = contact.queue
        handle = self.rng.lognormvariate(math.log(q.mean_handle_seconds) - q.handle_sigma**2 / 2, q.handle_sigma)
        self._spawn_later(handle, lambda: self._end_contact(contact_id))

    async def _end_contact(self, contact_id: str) -> None:
        contact = self._contacts.get(contact_id)
        if contact is None:
            return
        await self.publish(
            self.settings.topic_contact_events,
            contact.domain,
            "contact.ended",
            {"contact_id": contact_id, "resolved": self.rng.random() < 0.8},
        )

    # ------------------------------------------------------------ reading decisions

    async def _read_outputs(self, consumer: AIOKafkaConsumer) -> None:
        async for message in consumer:
            if message.topic == self.settings.topic_dead_letters:
                self.stats.dead_letters += 1
                continue
            doc = orjson.loads(message.value)
            data = doc.get("data", {})
            contact = self._contacts.get(data.get("contact_id", ""))
            if contact is None:
                continue  # another run's or another simulator's contact
            sent = self._sent_at.get(data.get("trigger_event_id", ""))
            if sent is not None:
                latency = time.perf_counter() - sent
                self.stats.latencies.append(latency)
                self.stats.all_latencies.append(latency)
            if doc["type"] == "contact.assigned" and not contact.connected:
                if contact.abandoned:
                    continue  # the customer hung up as the offer went out; the worker closes it
                if not contact.assigned:
                    contact.assigned = True
                    self.stats.assigned += 1
                cid, agent_id = data["contact_id"], data["agent_id"]
                if data.get("offer_timeout_seconds") is None:
                    self._connect(cid, contact, data["waited_seconds"])
                else:  # an offer: the agent's phone rings; most answer, some let it ring out
                    contact.offered_to = agent_id
                    if self.rng.random() < self.scenario.answer_share:
                        ring = self.rng.expovariate(1.0 / self.scenario.ring_seconds) if self.scenario.ring_seconds else 0.0
                        waited = data["waited_seconds"] + ring
                        self._spawn_later(ring, lambda c=cid, a=agent_id, w=waited: self._answer(c, a, w))
            elif doc["type"] == "contact.offer_timed_out":
                contact.offered_to = None
            elif doc["type"] == "contact.closed":
                if data["outcome"] == "completed":
                    self.stats.completed += 1
                else:
                    self.stats.abandoned += 1
                self._contacts.pop(data["contact_id"], None)

    # ------------------------------------------------------------ reporting

    async def _summaries(self) -> None:
        started = time.monotonic()
        while True:
            await asyncio.sleep(self.summary_every)
            self.on_summary(self.summary_line(time.monotonic() - started))
            self.stats.latencies.clear()

    def summary_line(self, elapsed: float) -> str:
        st = self.stats
        recent = st.latencies or st.all_latencies
        sl = st.answered_within_20s / st.assigned if st.assigned else math.nan  # of contacts routed
        return (
            f"[{elapsed:6.0f}s] arrived {st.arrived:6d}  routed {st.assigned:6d}  waiting {st.waiting:4d}  "
            f"completed {st.completed:6d}  abandoned {st.abandoned:5d}  dead letters {st.dead_letters:3d}  "
            f"SL(20s) {sl:6.1%}  decision latency p50 {percentile(recent, 0.5) * 1000:6.1f} ms  "
            f"p99 {percentile(recent, 0.99) * 1000:6.1f} ms"
        )


async def _partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[int]:
    for _ in range(50):
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return sorted(parts)
        with contextlib.suppress(Exception):
            await consumer._client.force_metadata_update()  # noqa: SLF001 - aiokafka has no public refresh
        await asyncio.sleep(0.1)
    raise RuntimeError(f"topic {topic!r} does not exist: run deploy/stack up")
