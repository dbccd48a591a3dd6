"""Prometheus metrics of a worker: contact_router_ prefix, base units, bounded labels, no customer data."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from contact_router.alerts.kpis import Abandoned, Answered, Arrived, CallbackRequested, Fact, Finished, Transferred
from contact_router.contract import INPUT_TYPES
from contact_router.contract.events import AgentPaused, ContactAssigned, ContactClosed, ContactQueued, OfferTimedOut
from contact_router.service import Processed, Result

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


HANDLE_BUCKETS = (30, 60, 120, 180, 240, 300, 420, 600, 900, 1200, 1800, 3600)
CSAT_BUCKETS = (1, 2, 3, 4, 5)
REPEAT_WINDOWS = (("24h", 86_400.0), ("7d", 7 * 86_400.0))


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None, *, per_agent_limit: int = 0) -> None:
        """per_agent_limit: how many agents may get their own series (0: none), so a large center
        cannot blow up the number of series."""
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
            "contact_router_answer_wait_seconds",
            "Time from arrival to answer (an accepted offer, or an assignment where offers need no answer), "
            "in event time: ASA is its mean.",
            ["queue", "channel"], buckets=(0, 5, 10, 20, 30, 60, 120, 300, 600, 1800), registry=r,
        )
        qc = ["queue", "channel"]
        self.arrived = Counter("contact_router_contacts_arrived", "Contacts that arrived.", qc, registry=r)
        self.abandoned = Counter(
            "contact_router_contacts_abandoned",
            "Waits that ended unanswered: the customer hung up (waiting or while it rang) or the sweeper expired "
            "the contact. Abandonment = this / service_level_offered.", qc, registry=r,
        )
        self.transferred = Counter(
            "contact_router_contacts_transferred", "Contacts transferred out of the queue.", qc, registry=r
        )
        self.callbacks = Counter("contact_router_callbacks_requested", "Waiting customers who asked for a callback.", qc, registry=r)
        self.handle = Histogram(
            "contact_router_handle_seconds", "Handle time of completed contacts (talk + hold + wrap-up): AHT is its mean.",
            ["queue", "channel", "location"], buckets=HANDLE_BUCKETS, registry=r,
        )
        self.sl_met = Counter(
            "contact_router_service_level_met", "Contacts answered within their queue's service-level threshold.",
            qc, registry=r,
        )
        self.sl_offered = Counter(
            "contact_router_service_level_offered",
            "Contacts whose wait ended, answered or abandoned: the service level's denominator.", qc, registry=r,
        )
        self.first_contact = Counter(
            "contact_router_first_contact_resolutions",
            "Completed contacts resolved without a transfer and not a repeat of one in the last 24 h.", qc, registry=r,
        )
        self.repeats = Counter(
            "contact_router_repeat_contacts",
            "Completed contacts from a customer who contacted the same queue within the window.",
            ["queue", "channel", "window"], registry=r,
        )
        self.csat = Histogram(
            "contact_router_csat_score", "Customer satisfaction given at the end of a contact (1-5).", qc,
            buckets=CSAT_BUCKETS, registry=r,
        )
        self.escalations = Counter(
            "contact_router_escalations", "Early-warning alerts raised.", ["kind", "severity"], registry=r
        )
        self.per_agent_limit = per_agent_limit
        self._agents_with_series: set[str] = set()
        self.agent_handled = Counter(
            "contact_router_agent_handled", "Contacts an agent completed (per-agent series are optional).",
            ["agent"], registry=r,
        )
        self.agent_handle_seconds = Counter(
            "contact_router_agent_handle_seconds", "Summed handle time of an agent's completed contacts.",
            ["agent"], registry=r,
        )
        self.agent_csat_score = Counter("contact_router_agent_csat_score", "Summed CSAT of an agent's contacts.", ["agent"], registry=r)
        self.agent_csat_ratings = Counter(
            "contact_router_agent_csat_ratings", "CSAT ratings an agent's contacts gave.", ["agent"], registry=r
        )
        self.decision_latency = Histogram(
            "contact_router_decision_latency_seconds",
            "Wall-clock time from an input's event time to its outputs being handed to Kafka.",
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.processing = Histogram(
            "contact_router_processing_seconds",
            "Time to process one input record (decode, route, commit; a batch's time shared by its records).",
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.batch_size = Histogram(
            "contact_router_batch_records", "Input records processed together (one store commit per domain among them).",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000), registry=r,
        )
        self.timers_fired = Counter(
            "contact_router_timers_fired", "timer.fired events published for owned domains.", registry=r
        )
        self.gc_pauses = Histogram(
            "contact_router_gc_pause_seconds",
            "Python garbage collections in the worker by generation: routing stops while one runs.",
            ["generation"], buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0), registry=r,
        )
        self.outputs_undelivered = Counter(
            "contact_router_outputs_undelivered",
            "Records handed to the Kafka producer that it failed to deliver (after its retries).",
            ["topic"], registry=r,
        )
        self.owned_partitions = Gauge(
            "contact_router_assigned_partitions",
            "Input partitions this worker owns now; 0 means it is not ready to route.",
            registry=r,
        )
        self.consumer_lag = Gauge(
            "contact_router_consumer_lag",
            "Input records not yet processed on each partition this worker owns (end offset - processed).",
            ["topic", "partition"], registry=r,
        )
        self.consumer_stalled = Gauge(
            "contact_router_consumer_stalled",
            "1 on an owned input partition whose records wait while it is not fetched (the worker then exits "
            "with code 75 to be restarted), else 0.",
            ["topic", "partition"], registry=r,
        )
        self.dependency_up = Gauge(
            "contact_router_dependency_up", "1 when the dependency answered the worker's last check.",
            ["dependency"], registry=r,
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
            elif isinstance(d, ContactQueued):
                self.queued.labels(d.queue, d.channel.value, d.reason).inc()
            elif isinstance(d, ContactClosed):
                self.closed.labels(d.queue, d.channel.value, d.outcome).inc()
            elif isinstance(d, OfferTimedOut):
                self.offers_timed_out.labels(d.queue).inc()
            elif isinstance(d, AgentPaused):
                self.agents_paused.labels(d.reason).inc()
        for fact in processed.facts:
            self._count(fact)
        for alert in processed.alerts:
            if alert.status == "firing":
                self.escalations.labels(alert.kind, alert.severity).inc()

    def _count(self, fact: Fact) -> None:
        match fact:
            case Arrived(queue, channel):
                self.arrived.labels(queue, channel).inc()
            case Answered(queue, channel, waited, within):
                self.answer_wait.labels(queue, channel).observe(waited)
                self.sl_offered.labels(queue, channel).inc()
                if within:
                    self.sl_met.labels(queue, channel).inc()
            case Abandoned(queue, channel):
                self.sl_offered.labels(queue, channel).inc()
                self.abandoned.labels(queue, channel).inc()
            case Transferred(queue, channel):
                self.transferred.labels(queue, channel).inc()
            case CallbackRequested(queue, channel):
                self.callbacks.labels(queue, channel).inc()
            case Finished():
                self._finished(fact)

    def _finished(self, f: Finished) -> None:
        self.handle.labels(f.queue, f.channel, f.location).observe(f.handle_seconds)
        if f.first_contact_resolution:
            self.first_contact.labels(f.queue, f.channel).inc()
        for window, seconds in REPEAT_WINDOWS:
            if f.repeat_after_seconds is not None and f.repeat_after_seconds <= seconds:
                self.repeats.labels(f.queue, f.channel, window).inc()
        if f.csat is not None:
            self.csat.labels(f.queue, f.channel).observe(f.csat)
        if self._agent_series(f.agent_id):
            self.agent_handled.labels(f.agent_id).inc()
            self.agent_handle_seconds.labels(f.agent_id).inc(f.handle_seconds)
            if f.csat is not None:
                self.agent_csat_score.labels(f.agent_id).inc(f.csat)
                self.agent_csat_ratings.labels(f.agent_id).inc()

    def _agent_series(self, agent_id: str) -> bool:
        if agent_id in self._agents_with_series:
            return True
        if len(self._agents_with_series) >= self.per_agent_limit:
            return False
        self._agents_with_series.add(agent_id)
        return True
