"""A running pipeline for e2e tests: unique topics, worker processes, a publisher and an output reader."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from contact_router.contract import Envelope
from tests.factories import CUSTOMER_REF_KEY

PARTITIONS = 6


@dataclass
class Pipeline:
    bootstrap: str
    suffix: str
    outputs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def topics(self) -> dict[str, str]:
        names = ["contact-events", "agent-events", "routing-decisions", "escalation-alerts", "dead-letters"]
        return {name: f"{name}-{self.suffix}" for name in names}

    def worker_env(self, redis_url: str) -> dict[str, str]:
        t = self.topics
        return {
            "CONTACT_ROUTER_KAFKA_BOOTSTRAP": self.bootstrap,
            "CONTACT_ROUTER_REDIS_URL": redis_url,
            "CONTACT_ROUTER_APP_ID": f"e2e-{self.suffix}",
            "CONTACT_ROUTER_REDIS_KEY_PREFIX": f"e2e-{self.suffix}",
            "CONTACT_ROUTER_TOPIC_CONTACT_EVENTS": t["contact-events"],
            "CONTACT_ROUTER_TOPIC_AGENT_EVENTS": t["agent-events"],
            "CONTACT_ROUTER_TOPIC_ROUTING_DECISIONS": t["routing-decisions"],
            "CONTACT_ROUTER_TOPIC_ESCALATION_ALERTS": t["escalation-alerts"],
            "CONTACT_ROUTER_TOPIC_DEAD_LETTERS": t["dead-letters"],
            "CONTACT_ROUTER_LOG_LEVEL": "warning",
            "CONTACT_ROUTER_CUSTOMER_REF_KEY": CUSTOMER_REF_KEY,
        }

    async def create_topics(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(name, PARTITIONS, 1) for name in self.topics.values()])
        finally:
            await admin.close()

    async def publish(self, envelopes: list[Envelope | tuple[str, bytes]], topic: str = "contact-events") -> None:
        """Envelopes go keyed by their domain; (domain, raw bytes) pairs go as they are."""
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await producer.start()
        try:
            for item in envelopes:
                if isinstance(item, Envelope):
                    await producer.send_and_wait(self.topics[topic], item.to_bytes(), key=item.domain.encode())
                else:
                    domain, raw = item
                    await producer.send_and_wait(self.topics[topic], raw, key=domain.encode())
        finally:
            await producer.stop()

    async def drain(self, quiet: float = 2.0) -> list[dict[str, Any]]:
        """Everything on the output topics so far: read until nothing new comes for `quiet` seconds."""
        last_count, last_change = -1, time.monotonic()

        def settled(outputs: list[dict[str, Any]]) -> bool:
            nonlocal last_count, last_change
            if len(outputs) != last_count:
                last_count, last_change = len(outputs), time.monotonic()
            return time.monotonic() - last_change >= quiet

        return await self.read_until(settled, timeout=60.0)

    async def read_until(
        self,
        done: Callable[[list[dict[str, Any]]], bool],
        timeout: float = 60.0,
        outputs: tuple[str, ...] = ("routing-decisions", "dead-letters"),
    ) -> list[dict[str, Any]]:
        """Read the output topics from the start until `done(outputs)` holds; fail on timeout."""
        consumer = AIOKafkaConsumer(
            *(self.topics[name] for name in outputs),
            bootstrap_servers=self.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        self.outputs = []
        deadline = time.monotonic() + timeout
        try:
            while not done(self.outputs):
                if time.monotonic() > deadline:
                    raise AssertionError(f"timed out with {len(self.outputs)} outputs")
                batch = await consumer.getmany(timeout_ms=500)
                for messages in batch.values():
                    self.outputs += [
                        orjson.loads(m.value) | {"_partition": m.partition, "_key": (m.key or b"").decode()}
                        for m in messages
                    ]
        finally:
            await consumer.stop()
        return self.outputs


def of_type(outputs: list[dict[str, Any]], type_: str, domain: str | None = None) -> list[dict[str, Any]]:
    return [o for o in outputs if o["type"] == type_ and (domain is None or o["domain"] == domain)]
