"""The Faust app factory: one agent over the co-partitioned input topics, concurrency 1, taking
records in batches (each domain's events in a batch are committed to Redis together), and the
timers of the domains this worker owns.

Concurrency stays 1 per agent: faust-streaming #606 commits past unprocessed offsets otherwise.
Outputs go straight to Faust's producer (now, not at the next commit); Faust flushes the producer
before it commits offsets, and the Redis outbox re-emits outputs of an event redelivered after a crash.
"""

from __future__ import annotations

import asyncio
import os
import time
from functools import partial
from typing import Any

import aiokafka
import faust
import structlog
from faust.transport.drivers import aiokafka as faust_aiokafka

from contact_router.metrics import Metrics
from contact_router.security import faust_credentials
from contact_router.service import Result, RoutingService, SourceRecord
from contact_router.settings import Settings
from contact_router.state.store import StateStore, StoreLost
from contact_router.stream.batches import take_batches
from contact_router.stream.health import EXIT_PROCESSING_FAILED, EXIT_STORE_LOST, ConsumerWatch
from contact_router.stream.timers import TimerScheduler, partition_of, timer_event

log = structlog.get_logger("contact_router.stream")

PRODUCER_BATCH_BYTES = 512 * 1024
# How long the broker may hold a fetch that finds no new record (Faust hard-codes 1,500 ms).
FETCH_MAX_WAIT_MS = 100


class _FetchPromptlyThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: faust_aiokafka.Transport) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when the consumer starts its fetcher
        return consumer


class FetchPromptlyConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with a short fetch wait. aiokafka keeps one fetch in flight per
    broker, and leaves out of it the partitions whose records are still buffered: behind a busy
    batch, that fetch asks for the idle partitions only (the agent events, say), and the broker
    held it for Faust's 1.5 s while the contact events piled up. Traced in a worker at 905
    events/s: fetches of 13 of 25 partitions lasting 1.50 s, every 1.7 s once it began, and
    contacts waiting up to 2 s for a decision. With the short wait the fetch returns empty at
    once and the next one covers every partition; an idle worker polls 10 times a second."""

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _FetchPromptlyThread(self, loop=self.loop, beacon=self.beacon)


def use_event_loop(name: str) -> None:
    """Make `name` ("uvloop" or "asyncio") the loop of every event loop made from now on: the
    worker's, and its Kafka consumer thread's (mode creates that one with new_event_loop). Called
    before anything makes a loop."""
    if name == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    else:
        asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())


def faust_app(settings: Settings) -> faust.App:
    """A Faust app set up as the worker runs (raw bytes, acks from all replicas, commits every second);
    the benchmarks' no-op agent uses it too, so the two are measured alike."""
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{server.strip()}" for server in settings.kafka_bootstrap.split(",")],
        broker_credentials=faust_credentials(settings),
        store="memory://",
        datadir=str(settings.data_dir),
        web_enabled=False,
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # A batch of input makes hundreds of outputs at once. aiokafka's default 16 KiB per partition
        # batch made sends wait for the one produce request in flight to the broker to finish.
        producer_max_batch_size=PRODUCER_BATCH_BYTES,
        broker_commit_interval=1.0,
        # Faust's default is 60 s; routing work is milliseconds per event, so a dead worker's
        # partitions can move much sooner.
        broker_session_timeout=settings.kafka_session_timeout_seconds,
        broker_heartbeat_interval=max(settings.kafka_session_timeout_seconds / 3, 0.5),
    )
    app.transport.Consumer = FetchPromptlyConsumer  # type: ignore[misc]
    return app


def faust_worker(app: faust.App, loglevel: str) -> faust.Worker:
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    # Faust's terminal spinner sets the root logger to DEBUG so it can spin on every record: every
    # debug line of aiokafka and Faust would then be built and dropped (about 5% of a busy
    # worker's CPU in py-spy). A worker has no terminal to spin on.
    worker.spinner = None
    return worker


def count_undelivered(metrics: Metrics, topic: str, delivery: asyncio.Future[Any]) -> None:
    """A producer's delivery callback: a record Kafka did not take after the producer's retries is
    counted and logged, with its topic and the error only (the record may hold ids)."""
    if delivery.cancelled() or delivery.exception() is None:
        return
    metrics.outputs_undelivered.labels(topic).inc()
    log.error("output not delivered", topic=topic, error=type(delivery.exception()).__name__)


def create_app(settings: Settings, service: RoutingService, store: StateStore, metrics: Metrics) -> faust.App:
    app = faust_app(settings)
    inputs = app.topic(settings.topic_contact_events, settings.topic_agent_events)
    input_names = {settings.topic_contact_events, settings.topic_agent_events}
    scheduler = TimerScheduler(settings.timer_retry_seconds)

    async def publish(topic: str, key: str, value: bytes) -> asyncio.Future[Any]:
        """Hand one record to the producer, partitioned by key as Kafka's default partitioner does.
        Straight to Faust's producer rather than through `Topic.send`: its bookkeeping for each
        message (future, sensors, callbacks) was 5% of a busy worker's CPU in py-spy, and its
        warning on a failed delivery prints the message's content; this one does not."""
        producer = await app.maybe_start_producer()
        delivery = await producer.send(topic, key.encode(), value, partition=None, timestamp=None, headers=None)
        delivery.add_done_callback(partial(count_undelivered, metrics, topic))
        return delivery

    processed_offsets: dict[Any, int] = {}  # input TP -> last offset processed, for the lag gauge
    watch = ConsumerWatch(metrics, settings.consumer_stall_seconds, settings.consumer_stall_restart_seconds)
    busy = False  # inside an event: records waiting then are not a stalled fetcher

    async def route(stream: faust.StreamT) -> None:
        nonlocal busy
        busy = False  # Faust restarts a crashed agent by calling this again
        # Batches: what has arrived, up to batch_max_events (stream/batches.py). A batch's events are
        # acked (so their offsets can be committed) only once this loop asks for the next one.
        async for events in take_batches(stream, settings.batch_max_events, settings.batch_wait_seconds):
            busy = True
            records = []
            for event in events:
                message = event.message
                processed_offsets[message.tp] = message.offset
                records.append(
                    SourceRecord(message.topic, message.partition, message.offset, message.key, message.value, message.timestamp)
                )
            started = time.perf_counter()
            try:
                results = await service.process_batch(records)
            except StoreLost as exc:
                # Nothing was written; the offsets are not committed. Restarted, the worker waits for a rebuild.
                log.error("store lost, exiting", error=str(exc), exit_code=EXIT_STORE_LOST)
                os._exit(EXIT_STORE_LOST)
            except Exception as exc:  # noqa: BLE001 - any failure: leave without acking the batch
                # Leaving this loop would let Faust ack the batch unprocessed (the generator's cleanup
                # acks it): exit instead, so its records are delivered again after the restart.
                log.exception("processing failed, exiting", error=type(exc).__name__, exit_code=EXIT_PROCESSING_FAILED)
                os._exit(EXIT_PROCESSING_FAILED)
            for processed in results:
                for out in processed.outputs:
                    await publish(out.topic, out.key, out.value)
            per_event = (time.perf_counter() - started) / len(results)
            metrics.batch_size.observe(len(results))
            for record, processed in zip(records, results, strict=True):
                metrics.observe(processed, per_event)
                if processed.domain is not None:
                    scheduler.set(processed.domain, processed.next_deadline, written_at=record.timestamp)
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
            busy = False

    app.agent(inputs, name="route", concurrency=1)(route)

    async def fire_timers() -> None:
        now = time.time()
        for domain, deadline in scheduler.due(now):
            event = timer_event(domain, deadline, fired_at=now)
            delivery = await publish(settings.topic_contact_events, domain, event.to_bytes())
            delivery.add_done_callback(partial(retry_if_undelivered, domain, deadline))
            metrics.timers_fired.inc()

    def retry_if_undelivered(domain: str, deadline: float, delivery: asyncio.Future[Any]) -> None:
        if not delivery.cancelled() and delivery.exception() is not None:
            scheduler.undelivered(domain, deadline, time.time())

    app.timer(interval=settings.timer_interval_seconds, name="fire_timers")(fire_timers)

    async def check_health() -> None:
        """Consumer lag per owned input partition, and whether Redis and Kafka answer: a stalled
        consumer shows as lag growing while the end offsets move (faust-streaming has known hangs),
        and stream/health.py turns that into a gauge and, if it lasts, an exit for a restart."""
        metrics.dependency_up.labels("redis").set(1 if await store.ping() else 0)
        owned = [tp for tp in app.consumer.assignment() if tp.topic in input_names]
        if settings.chaos_pause_file is not None and settings.chaos_pause_file.exists():
            app.consumer.pause_partitions(owned)
        try:
            ends = await asyncio.wait_for(app.consumer.highwaters(*owned), timeout=5.0) if owned else {}
        except Exception:  # noqa: BLE001 - any failure to reach the brokers counts as down
            metrics.dependency_up.labels("kafka").set(0)
            return
        metrics.dependency_up.labels("kafka").set(1)
        metrics.consumer_lag.clear()
        positions: dict[Any, int] = {}
        for tp, end in ends.items():
            done = processed_offsets.get(tp)
            position = done + 1 if done is not None else await app.consumer.position(tp)
            metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(end - (position if position is not None else end), 0))
            if position is not None:
                positions[tp] = position
        watch.check(time.monotonic(), ends, positions, busy)

    app.timer(interval=settings.health_interval_seconds, name="check_health")(check_health)

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        # Another worker may own these domains next: cached state and timers are no longer ours.
        service.forget_cached()
        scheduler.disarm()  # on_assigned arms the owned domains' deadlines again
        metrics.owned_partitions.set(0)
        metrics.consumer_lag.clear()
        watch.detector.forget()
        for tp in revoked:
            processed_offsets.pop(tp, None)

    @app.on_partitions_assigned.connect
    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        owned = sorted((tp.topic, tp.partition) for tp in assigned if tp.topic in input_names)
        metrics.owned_partitions.set(len(owned))
        # Re-arm the timers of the domains we now own (deadlines survive restarts in the store's index).
        partitions = app.consumer.topic_partitions(settings.topic_contact_events)
        ours = {p for topic, p in owned if topic == settings.topic_contact_events}
        deadlines = await store.indexed_deadlines()
        scheduler.replace(
            (domain, deadline)
            for domain, deadline in deadlines.items()
            if partitions is None or partition_of(domain, partitions) in ours
        )
        log.info("partitions assigned", partitions=[f"{t}:{p}" for t, p in owned], timers=len(scheduler))

    return app
