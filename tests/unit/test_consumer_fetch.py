"""The worker's Kafka consumer asks the broker to answer a fetch within FETCH_MAX_WAIT_MS, not
Faust's 1.5 s: behind a busy batch, aiokafka's one fetch in flight covers only the idle partitions,
and the broker held it that long while the busy ones filled up (stream/app.py)."""

from __future__ import annotations

import asyncio

from contact_router.settings import Settings
from contact_router.stream.app import FETCH_MAX_WAIT_MS, FetchPromptlyConsumer, faust_app


def test_the_worker_consumer_fetches_with_the_short_wait() -> None:
    async def built() -> int:
        app = faust_app(Settings(kafka_bootstrap="127.0.0.1:1"))  # built, never connected
        assert isinstance(app.consumer, FetchPromptlyConsumer)
        kafka_consumer = app.consumer._thread._create_consumer(asyncio.get_running_loop())
        try:
            return kafka_consumer._fetch_max_wait_ms
        finally:
            await kafka_consumer.stop()

    assert FETCH_MAX_WAIT_MS < 1500
    assert asyncio.run(built()) == FETCH_MAX_WAIT_MS
