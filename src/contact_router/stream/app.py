"""The Faust app factory: one agent over the co-partitioned input topics, concurrency 1.

Concurrency stays 1 per agent: faust-streaming #606 commits past unprocessed offsets otherwise.
Outputs are sent with force=True (now, not at the next commit); Faust flushes the producer before
it commits offsets, and the Redis outbox re-emits outputs of an event redelivered after a crash.
"""

from __future__ import annotations

import time

import faust
import structlog

from contact_router.metrics import Metrics
from contact_router.service import Result, RoutingService, SourceRecord
from contact_router.settings import Settings

log = structlog.get_logger("contact_router.stream")


def create_app(settings: Settings, service: RoutingService, metrics: Metrics) -> faust.App:
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{server.strip()}" for server in settings.kafka_bootstrap.split(",")],
        store="memory://",
        datadir=str(settings.data_dir),
        web_enabled=False,
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        broker_commit_interval=1.0,
    )
    inputs = app.topic(settings.topic_contact_events, settings.topic_agent_events)
    outputs = {
        name: app.topic(name)
        for name in (settings.topic_routing_decisions, settings.topic_dead_letters, settings.topic_escalation_alerts)
    }

    async def route(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            record = SourceRecord(
                message.topic, message.partition, message.offset, message.key, message.value, message.timestamp
            )
            started = time.perf_counter()
            processed = await service.process(record)
            for out in processed.outputs:
                await outputs[out.topic].send(key=out.key.encode(), value=out.value, force=True)
            metrics.observe(processed, time.perf_counter() - started)
            if processed.result in (Result.DEAD_LETTER, Result.REJECTED):
                log.warning(
                    "input dead-lettered",
                    reason=processed.reason,
                    kind=processed.reason_kind,
                    event_type=processed.event_type,
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                )

    app.agent(inputs, name="route", concurrency=1)(route)
    return app
