"""The producer's delivery callback: a failed output delivery is counted per topic, a good one is not."""

from __future__ import annotations

import asyncio

from aiokafka.errors import KafkaTimeoutError
from prometheus_client import CollectorRegistry

from contact_router.metrics import Metrics
from contact_router.stream.app import count_undelivered


def _delivery(loop: asyncio.AbstractEventLoop, error: Exception | None) -> asyncio.Future[object]:
    future: asyncio.Future[object] = loop.create_future()
    if error is None:
        future.set_result("metadata")
    else:
        future.set_exception(error)
    return future


def test_only_failed_deliveries_are_counted_by_topic() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    loop = asyncio.new_event_loop()
    try:
        count_undelivered(metrics, "routing-decisions", _delivery(loop, None))
        count_undelivered(metrics, "routing-decisions", _delivery(loop, KafkaTimeoutError()))
        count_undelivered(metrics, "dead-letters", _delivery(loop, KafkaTimeoutError()))
        count_undelivered(metrics, "dead-letters", _delivery(loop, KafkaTimeoutError()))
    finally:
        loop.close()
    sample = "contact_router_outputs_undelivered_total"
    assert registry.get_sample_value(sample, {"topic": "routing-decisions"}) == 1.0
    assert registry.get_sample_value(sample, {"topic": "dead-letters"}) == 2.0
