"""Run one routing worker: Redis store, routing service, metrics endpoint and the Faust app."""

from __future__ import annotations

import asyncio
import gc
import time
from functools import partial
from typing import Any

import faust
import structlog
from prometheus_client import start_http_server

from contact_router.core import Engine
from contact_router.logging import configure_logging
from contact_router.metrics import Metrics
from contact_router.privacy import Pseudonyms
from contact_router.routing.config import RoutingConfig, load_routing_config
from contact_router.security import check_logins, describe_kafka, describe_redis, redis_client
from contact_router.service import DomainLimits, OutputTopics, RoutingService
from contact_router.settings import Settings
from contact_router.staffing.forecast import load_profiles
from contact_router.state.redis_store import RedisStore
from contact_router.state.store import StateStore
from contact_router.stream.app import create_app, faust_worker, use_event_loop
from contact_router.stream.live_metrics import LiveStateCollector, OnLoop, read_live_gauges
from contact_router.stream.rebuild import wait_for_store

log = structlog.get_logger("contact_router.worker")


def build_store(settings: Settings, *, guard_marker: bool = False) -> RedisStore:
    return RedisStore(
        redis_client(settings),
        key_prefix=settings.redis_key_prefix,
        event_ttl_seconds=settings.event_ttl_seconds,
        guard_marker=guard_marker,
    )


def build_service(settings: Settings, store: StateStore, routing: RoutingConfig | None = None) -> RoutingService:
    """The routing service as the worker runs it; a rebuild replays through the same one.
    Raises CustomerRefKeyError when the customer-ref key is unusable."""
    routing = routing or load_routing_config(settings.routing_config)
    return RoutingService(
        store,
        pseudonyms=Pseudonyms.from_setting(settings.customer_ref_key),
        topics=OutputTopics(
            settings.topic_routing_decisions, settings.topic_dead_letters, settings.topic_escalation_alerts
        ),
        engine=Engine(routing, forecasts=load_profiles(routing.forecasts)),
        cache_size=settings.domain_cache_size,
        max_event_lead_seconds=settings.max_event_lead_seconds,
        max_event_lag_seconds=settings.max_event_lag_seconds,
        max_event_bytes=settings.max_event_bytes,
        limits=DomainLimits(settings.max_agents_per_domain, settings.max_contacts_per_domain),
    )


async def _wait_for_store(settings: Settings) -> None:
    store = build_store(settings)
    try:
        await wait_for_store(settings, store)
    finally:
        await store.close()


def time_collections(metrics: Metrics) -> None:
    """Observe every garbage collection's pause: the whole worker, routing included, waits for it."""
    started = [0.0]

    def on_collection(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            metrics.gc_pauses.labels(str(info["generation"])).observe(time.perf_counter() - started[0])

    gc.callbacks.append(on_collection)


def build_worker(settings: Settings) -> faust.Worker:
    """Raises CustomerRefKeyError, before connecting to anything, when the customer-ref key is unusable."""
    Pseudonyms.from_setting(settings.customer_ref_key)
    configure_logging(settings.log_level)
    use_event_loop(settings.event_loop)
    # Refused credentials or TLS never fix themselves: stop now, saying which, rather than retry forever.
    check_logins(settings)
    metrics = Metrics(per_agent_limit=settings.per_agent_metrics_limit)
    # Cached domain state is many small long-lived objects: with Python's default thresholds the
    # full collections that scan them came every few seconds (settings.py has the figures).
    gc.set_threshold(*settings.gc_thresholds)
    time_collections(metrics)
    routing = load_routing_config(settings.routing_config)
    # The store refuses loads once its marker is gone: a lost Redis stops routing (exit 76) instead
    # of routing on empty state.
    store = build_store(settings, guard_marker=True)
    service = build_service(settings, store, routing)
    app = create_app(settings, service, store, metrics)
    # Live gauges are read on the loop that routes (the state is its own), and served from the
    # metrics server's thread.
    on_loop = OnLoop()
    app.task(on_loop.attach)
    read = partial(read_live_gauges, service.cached_states, routing, settings.per_agent_metrics_limit)
    metrics.registry.register(LiveStateCollector(partial(on_loop.run, read)))

    if settings.metrics_port:
        start_http_server(settings.metrics_port, registry=metrics.registry)
        log.info("metrics exposed", port=settings.metrics_port, path="/metrics")
    # Before joining the consumer group: a worker waiting here owns no partitions, so it cannot
    # stall them, and a rebuild can run meanwhile.
    # On a loop of its own, left unset as the current one: Faust makes and runs its own afterwards.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(_wait_for_store(settings))
    finally:
        loop.close()
    log.info("worker starting", app_id=settings.app_id, **describe_kafka(settings), **describe_redis(settings))
    return faust_worker(app, settings.log_level)
