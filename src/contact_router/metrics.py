"""Prometheus metrics of a worker: contact_router_ prefix, base units, bounded labels, no customer data."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from contact_router.contract import INPUT_TYPES
from contact_router.contract.events import AgentPaused, ContactAssigned, ContactClosed, ContactQueued, OfferTimedOut
from contact_router.service import Processed, Result

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "contact_router_events", "Input events processed, by type and result.", ["type", "result"], registry=r
        )
        self.dead_letters = Counter(
            "contact_router_dead_letters", "Inputs sent to the dead-letter topic, by reason.", ["reason"], registry=r
        )
        self.assigned = Counter(
            "contact_router_contacts_assigned", "Contacts assigned to an agent.", ["queue", "channel"], registry=r
        )
        self.queued = Counter(
            "contact_router_contacts_queued", "Contacts that had to wait, by reason.", ["queue", "channel", "reason"],
            registry=r,
        )
        self.closed = Counter(
            "contact_router_contacts_closed", "Contacts that reached a terminal outcome.",
            ["queue", "channel", "outcome"], registry=r,
        )
        self.offers_timed_out = Counter(
            "contact_router_offers_timed_out", "Offers not answered in time, re-queued.", ["queue"], registry=r
        )
        self.agents_paused = Counter(
            "contact_router_agents_paused", "Agents the router set away, by reason.", ["reason"], registry=r
        )
        self.answer_wait = Histogram(
            "contact_router_answer_wait_seconds", "Time from arrival to assignment, in event time.",
            ["queue", "channel"], buckets=(0, 5, 10, 20, 30, 60, 120, 300, 600, 1800), registry=r,
        )
        self.decision_latency = Histogram(
            "contact_router_decision_latency_seconds",
            "Wall-clock time from an input's event time to its outputs being handed to Kafka.",
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.processing = Histogram(
            "contact_router_processing_seconds", "Time to process one input record (decode, route, commit).",
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.timers_fired = Counter(
            "contact_router_timers_fired", "timer.fired events published for owned domains.", registry=r
        )
        self.owned_partitions = Gauge(
            "contact_router_assigned_partitions",
            "Input partitions this worker owns now; 0 means it is not ready to route.",
            registry=r,
        )
        # Known label sets start at zero, so rates and alerts see them before the first event.
        for type_ in [*INPUT_TYPES, "unknown"]:
            for result in Result:
                self.events.labels(type_, result.value)

    def observe(self, processed: Processed, processing_seconds: float) -> None:
        self.events.labels(processed.event_type, processed.result.value).inc()
        self.processing.observe(processing_seconds)
        if processed.reason_kind is not None:
            self.dead_letters.labels(processed.reason_kind).inc()
        if processed.event_time is not None and processed.result is Result.APPLIED:
            self.decision_latency.observe(max(time.time() - processed.event_time, 0.0))
        for d in processed.decisions:
            if isinstance(d, ContactAssigned):
                self.assigned.labels(d.queue, d.channel.value).inc()
                self.answer_wait.labels(d.queue, d.channel.value).observe(d.waited_seconds)
            elif isinstance(d, ContactQueued):
                self.queued.labels(d.queue, d.channel.value, d.reason).inc()
            elif isinstance(d, ContactClosed):
                self.closed.labels(d.queue, d.channel.value, d.outcome).inc()
            elif isinstance(d, OfferTimedOut):
                self.offers_timed_out.labels(d.queue).inc()
            elif isinstance(d, AgentPaused):
                self.agents_paused.labels(d.reason).inc()
