"""Run one routing worker: Redis store, routing service, metrics endpoint and the Faust app."""

from __future__ import annotations

from typing import Any

import faust
import structlog
from prometheus_client import Gauge, start_http_server

from contact_router.logging import configure_logging
from contact_router.metrics import Metrics
from contact_router.service import OutputTopics, RoutingService
from contact_router.settings import Settings
from contact_router.state.redis_store import RedisStore
from contact_router.stream.app import create_app

log = structlog.get_logger("contact_router.worker")


def build_worker(settings: Settings) -> faust.Worker:
    configure_logging(settings.log_level)
    metrics = Metrics()
    store = RedisStore.from_url(
        settings.redis_url.get_secret_value(),
        key_prefix=settings.redis_key_prefix,
        event_ttl_seconds=settings.event_ttl_seconds,
    )
    service = RoutingService(
        store,
        topics=OutputTopics(settings.topic_routing_decisions, settings.topic_dead_letters),
        cache_size=settings.domain_cache_size,
    )
    app = create_app(settings, service, metrics)

    owned_partitions = Gauge(
        "contact_router_assigned_partitions",
        "Input partitions this worker owns now; 0 means it is not ready to route.",
        registry=metrics.registry,
    )

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        service.forget_cached()
        owned_partitions.set(0)

    @app.on_partitions_assigned.connect
    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        inputs = {settings.topic_contact_events, settings.topic_agent_events}
        owned = sorted(f"{tp.topic}:{tp.partition}" for tp in assigned if tp.topic in inputs)
        owned_partitions.set(len(owned))
        log.info("partitions assigned", partitions=owned)

    if settings.metrics_port:
        start_http_server(settings.metrics_port, registry=metrics.registry)
        log.info("metrics exposed", port=settings.metrics_port, path="/metrics")
    log.info("worker starting", kafka=settings.kafka_bootstrap, app_id=settings.app_id)
    return faust.Worker(app, loglevel=settings.log_level, quiet=True)
