"""The routing service: input records in, the records to publish out.

Decodes and validates, applies the event to the domain's state with the pure router, and commits
the change and its outputs in one atomic store operation. Independent of Faust, so it runs the same
in a worker, in tests and in benchmarks.
"""

from __future__ import annotations

import asyncio
import base64
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum

from contact_router.alerts.kpis import Fact
from contact_router.contract import (
    INPUT_TYPES,
    AgentLoggedIn,
    ContactArrived,
    DeadLetter,
    DecodeError,
    Envelope,
    InputEvent,
    decode_envelope,
    parse_input,
)
from contact_router.contract.envelope import MAX_EVENT_BYTES
from contact_router.contract.events import DEAD_LETTER_RAW_BYTES, OUTPUT_TYPE_NAMES, EscalationAlert
from contact_router.core import Engine
from contact_router.privacy import Pseudonyms
from contact_router.routing import Rejection
from contact_router.routing.engine import Decision
from contact_router.routing.model import DomainState
from contact_router.state.store import (
    Changes,
    CommitStatus,
    InvariantViolation,
    Outbox,
    OutputRecord,
    Reindex,
    Snapshot,
    StateStore,
)

SOURCE = "contact-router"
_UNKNOWN = object()
UNKNOWN_DOMAIN = "unknown"


@dataclass(frozen=True)
class SourceRecord:
    """An input message and where it came from."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float  # Kafka record time, POSIX seconds


@dataclass(frozen=True)
class OutputTopics:
    decisions: str = "routing-decisions"
    dead_letters: str = "dead-letters"
    alerts: str = "escalation-alerts"


class Result(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # redelivered: outputs are the stored ones of the first application
    REJECTED = "rejected"  # well-formed but not applicable (unknown contact...): dead-lettered
    DEAD_LETTER = "dead_letter"  # undecodable or invalid: dead-lettered


@dataclass(frozen=True)
class Processed:
    result: Result
    outputs: list[OutputRecord]
    event_type: str  # a known input type or "unknown": bounded, safe as a metric label
    event_time: float | None = None
    reason_kind: str | None = None  # for dead letters: bounded
    reason: str | None = None  # human-readable, free of payload content
    decisions: list[Decision] = field(default_factory=list)
    alerts: list[EscalationAlert] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)  # KPI facts for the metrics
    domain: str | None = None
    next_deadline: float | None = None  # when the domain next needs a timer.fired (applied events)


@dataclass(frozen=True)
class DomainLimits:
    """How much live state one domain may hold, so one tenant cannot exhaust a worker's memory or
    Redis: a new agent or contact past these is rejected (dead-lettered), and the stream goes on."""

    max_agents: int = 20_000  # every agent that logged in stays in the state (offline ones too)
    max_contacts: int = 100_000  # contacts not finished yet

    def check(self, state: DomainState, event: InputEvent) -> None:
        """Raise Rejection if the event would add an agent or a contact past the domain's limit."""
        if isinstance(event, AgentLoggedIn) and event.agent_id not in state.agents:
            held, limit, what = len(state.agents), self.max_agents, "agents"
        elif isinstance(event, ContactArrived) and event.contact_id not in state.contacts:
            held, limit, what = len(state.contacts), self.max_contacts, "contacts"
        else:
            return
        if held >= limit:
            reason = f"the domain is at its limit of {limit} {what} (max_{what}_per_domain)"
            raise Rejection(reason, kind=f"too_many_{what}")


@dataclass(frozen=True)
class _Valid:
    """An input record that decoded and passed the checks, ready to apply to its domain."""

    record: SourceRecord
    envelope: Envelope
    event: InputEvent
    event_type: str


class ConflictStorm(RuntimeError):
    """The domain kept changing under us: another worker is writing it (a rebalance in flight)."""


class RoutingService:
    def __init__(
        self,
        store: StateStore,
        *,
        pseudonyms: Pseudonyms,
        topics: OutputTopics = OutputTopics(),
        engine: Engine | None = None,
        cache_size: int = 10_000,
        max_conflicts: int = 20,
        max_batch: int = 200,
        max_event_lead_seconds: float = 300.0,
        max_event_lag_seconds: float = 86_400.0,
        max_event_bytes: int = MAX_EVENT_BYTES,
        limits: DomainLimits = DomainLimits(),
    ) -> None:
        self._store = store
        self._pseudonyms = pseudonyms
        self._topics = topics
        self._engine = engine or Engine()
        self._cache: OrderedDict[str, Snapshot] = OrderedDict()
        self._indexed: dict[str, object] = {}  # deadlines last written to the store's index
        self._cache_size = cache_size
        self._max_conflicts = max_conflicts
        self._max_batch = max_batch  # events of one domain per commit: bounds the script's size
        self._max_lead = max_event_lead_seconds
        self._max_lag = max_event_lag_seconds
        self._max_bytes = max_event_bytes
        self._limits = limits

    async def process(self, record: SourceRecord) -> Processed:
        return (await self.process_batch([record]))[0]

    async def process_batch(self, records: Sequence[SourceRecord]) -> list[Processed]:
        """Process input records in order, one result each. Each domain's events are applied one
        after another on its state and committed together: one store round trip per domain (and per
        `max_batch` events) instead of one per event. Domains are independent, so their relative order
        does not matter; within a domain the order is the input's."""
        results: dict[int, Processed] = {}
        by_domain: dict[str, list[tuple[int, _Valid]]] = {}
        for index, record in enumerate(records):
            checked = self._validate(record)
            if isinstance(checked, Processed):
                results[index] = checked
            else:
                by_domain.setdefault(checked.envelope.domain, []).append((index, checked))

        async def apply_domain(domain: str, items: list[tuple[int, _Valid]]) -> None:
            for chunk in self._chunks(items):
                applied = await self._apply(domain, [item for _, item in chunk])
                results.update((index, processed) for (index, _), processed in zip(chunk, applied, strict=True))

        if len(by_domain) == 1:
            await apply_domain(*next(iter(by_domain.items())))
        elif by_domain:
            # Domains share nothing, so their store round trips overlap instead of queueing one
            # behind another; a failure in one cancels the others (the batch is not acked).
            try:
                async with asyncio.TaskGroup() as group:
                    for domain, items in by_domain.items():
                        group.create_task(apply_domain(domain, items))
            except BaseExceptionGroup as failed:
                raise failed.exceptions[0] from None  # callers tell StoreLost from other failures
        return [results[index] for index in range(len(records))]

    def _chunks(self, items: list[tuple[int, _Valid]]) -> Iterator[list[tuple[int, _Valid]]]:
        """A domain's events in commits of at most `max_batch`, and never one id twice in a commit (a
        producer's retry can send an event twice in a row: the second must see the first applied)."""
        chunk: list[tuple[int, _Valid]] = []
        ids: set[str] = set()
        for index, item in items:
            if len(chunk) >= self._max_batch or item.envelope.id in ids:
                yield chunk
                chunk, ids = [], set()
            chunk.append((index, item))
            ids.add(item.envelope.id)
        if chunk:
            yield chunk

    def _validate(self, record: SourceRecord) -> _Valid | Processed:
        """The record as an event ready to apply, or its dead letter."""
        try:
            envelope = decode_envelope(record.value, self._max_bytes)
        except DecodeError as exc:
            return self._dead_letter(record, exc.kind, exc.reason, None)
        event_type = envelope.type if envelope.type in INPUT_TYPES else "unknown"
        try:
            event = parse_input(envelope)
        except DecodeError as exc:
            return self._dead_letter(record, exc.kind, exc.reason, envelope)
        event = self._pseudonyms.event(event)  # from here on, no raw customer reference
        if record.key is None or record.key.decode(errors="replace") != envelope.domain:
            # The key decides the partition, hence the one worker owning the domain: a wrong key breaks that.
            return self._dead_letter(record, "wrong_key", "Kafka key must equal the envelope's domain", envelope)
        # Waits, SLAs and timers run on event time: an event far ahead of (or behind) when it was
        # written would expire offers early or distort waits. Checked against the record's own time,
        # which Kafka keeps, so a rebuild from old records still passes.
        lead = envelope.timestamp - record.timestamp
        if lead > self._max_lead or -lead > self._max_lag:
            reason = f"event time is {lead:+.0f} s from the record's time (allowed -{self._max_lag:.0f} to +{self._max_lead:.0f})"
            return self._dead_letter(record, "event_time", reason, envelope)
        return _Valid(record, envelope, event, event_type)

    async def _apply(self, domain: str, items: list[_Valid]) -> list[Processed]:
        """Apply consecutive events of one domain and commit them at once, retrying on a conflict.
        When the store finds one of them applied before (a redelivery) or refuses the change, they
        go one at a time, which tells exactly which events are duplicates or at fault."""
        for _ in range(self._max_conflicts):
            snapshot = await self._snapshot(domain)
            state = snapshot.state
            looked_up: set[str] = set()
            await self._load_customers(domain, state, items, looked_up)
            steps: list[Processed] = []
            outboxes: list[Outbox] = []
            for item in items:
                await self._load_customers(domain, state, [item], looked_up)
                changes_before = state.change_count
                steps.append(self._apply_event(state, item))
                outboxes.append(Outbox(item.envelope.id, steps[-1].outputs, state.change_count > changes_before))
            deadline = self._engine.next_deadline(state)
            reindex = self._reindex(domain, deadline, items[-1].envelope.timestamp)
            try:
                result = await self._store.commit(domain, snapshot.version, outboxes, Changes.of(state), reindex)
            except InvariantViolation as exc:
                self._cache.pop(domain, None)
                if len(items) > 1:
                    return await self._one_by_one(domain, items)
                return [self._dead_letter(items[0].record, "invariant", f"store refused the change: {exc}", items[0].envelope)]
            if result.status is CommitStatus.APPLIED:
                state.clear_changes()
                state.customers.clear()  # loaded for these events only; the store keeps them
                self._remember(domain, Snapshot(result.version, state))
                self._indexed_now(domain, reindex)
                return [replace(step, next_deadline=deadline) for step in steps]
            # The cached state was changed by this attempt or is stale: forget it either way.
            self._cache.pop(domain, None)
            if result.status is CommitStatus.DUPLICATE:
                if len(items) > 1:
                    return await self._one_by_one(domain, items)
                item = items[0]
                return [Processed(Result.DUPLICATE, result.outputs, item.event_type, item.envelope.timestamp)]
        raise ConflictStorm(f"domain changed {self._max_conflicts} times while {len(items)} events were applied")

    async def _one_by_one(self, domain: str, items: list[_Valid]) -> list[Processed]:
        return [processed for item in items for processed in await self._apply(domain, [item])]

    async def _load_customers(self, domain: str, state: DomainState, items: list[_Valid], looked_up: set[str]) -> None:
        """Load the customer histories these events read or write, once per commit: the ones known
        before applying any (arrivals name theirs) in one round trip, and any other as it comes.
        `looked_up` collects the references asked for, found or not, so none is asked twice."""
        refs = {
            ref
            for item in items
            for ref in self._engine.customers_needed(state, item.event)
            if ref not in state.customers and ref not in looked_up
        }
        if refs:
            state.customers.update(await self._store.load_customers(domain, sorted(refs)))
            looked_up.update(refs)

    def _apply_event(self, state: DomainState, item: _Valid) -> Processed:
        """Route one event on the state (changed in place) and build its outputs; a rejected event
        leaves the state as it was and yields its dead letter."""
        envelope = item.envelope
        try:
            self._limits.check(state, item.event)
            outcome = self._engine.handle(state, item.event, envelope.id, envelope.timestamp, domain=envelope.domain)
        except Rejection as exc:
            return Processed(
                Result.REJECTED, [self._dead_letter_record(item.record, exc.reason, envelope)], item.event_type,
                envelope.timestamp, exc.kind, exc.reason, domain=envelope.domain,
            )  # fmt: skip
        outputs = [self._decision_record(envelope, d) for d in outcome.decisions]
        outputs += [self._alert_record(envelope, a) for a in outcome.alerts]
        return Processed(
            Result.APPLIED, outputs, item.event_type, envelope.timestamp, decisions=outcome.decisions,
            alerts=outcome.alerts, facts=outcome.facts, domain=envelope.domain,
        )  # fmt: skip

    def _reindex(self, domain: str, deadline: float | None, now: float) -> Reindex | None:
        """Keep the store's deadline index a lower bound of the domain's next deadline, for re-arming
        timers after a restart. Written only when a deadline comes earlier than the indexed one or
        the indexed one has passed; an early entry only costs a timer.fired that changes nothing."""
        indexed = self._indexed.get(domain, _UNKNOWN)
        passed = indexed is _UNKNOWN or indexed is None or indexed <= now  # type: ignore[operator]
        if deadline is None:
            write = indexed is not None and passed
        else:
            write = passed or deadline < indexed  # type: ignore[operator]
        return Reindex(deadline) if write else None

    def _indexed_now(self, domain: str, reindex: Reindex | None) -> None:
        if reindex is None:
            return
        self._indexed[domain] = reindex.deadline
        while len(self._indexed) > self._cache_size:
            self._indexed.pop(next(iter(self._indexed)))

    def cached_states(self) -> list[tuple[str, DomainState]]:
        """The domains this service holds state of (those its worker owns), for live gauges."""
        return [(domain, snapshot.state) for domain, snapshot in list(self._cache.items())]

    def forget_cached(self) -> None:
        """Drop cached domain state, e.g. when partitions move: the store's version check would
        catch stale state anyway, this only saves the failed commit."""
        self._cache.clear()
        self._indexed.clear()

    async def _snapshot(self, domain: str) -> Snapshot:
        cached = self._cache.get(domain)
        if cached is not None:
            self._cache.move_to_end(domain)
            return cached
        return await self._store.load(domain)

    def _remember(self, domain: str, snapshot: Snapshot) -> None:
        self._cache[domain] = snapshot
        self._cache.move_to_end(domain)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _decision_record(self, trigger: Envelope, decision: Decision) -> OutputRecord:
        envelope = Envelope(
            id=decision.decision_id,
            type=OUTPUT_TYPE_NAMES[type(decision)],
            time=trigger.time,
            domain=trigger.domain,
            source=SOURCE,
            data=decision.model_dump(mode="json"),
        )
        return OutputRecord(self._topics.decisions, trigger.domain, envelope.to_bytes())

    def _alert_record(self, trigger: Envelope, alert: EscalationAlert) -> OutputRecord:
        envelope = Envelope(
            id=f"{alert.alert_id}:{alert.status}",  # firing and resolved are two messages of one alert
            type=OUTPUT_TYPE_NAMES[EscalationAlert],
            time=trigger.time,
            domain=trigger.domain,
            source=SOURCE,
            data=alert.model_dump(mode="json"),
        )
        return OutputRecord(self._topics.alerts, trigger.domain, envelope.to_bytes())

    def _dead_letter(self, record: SourceRecord, kind: str, reason: str, envelope: Envelope | None) -> Processed:
        event_type = envelope.type if envelope is not None and envelope.type in INPUT_TYPES else "unknown"
        return Processed(
            Result.DEAD_LETTER,
            [self._dead_letter_record(record, reason, envelope)],
            event_type,
            envelope.timestamp if envelope is not None else None,
            kind,
            reason,
        )

    def _dead_letter_record(self, record: SourceRecord, reason: str, envelope: Envelope | None) -> OutputRecord:
        domain = envelope.domain if envelope is not None else UNKNOWN_DOMAIN
        raw = self._pseudonyms.redact(record.value or b"")
        letter = DeadLetter(
            reason=reason,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            raw_base64=base64.b64encode(raw[:DEAD_LETTER_RAW_BYTES]).decode(),
            event_id=envelope.id if envelope is not None else None,
            event_type=envelope.type if envelope is not None else None,
            raw_truncated=len(raw) > DEAD_LETTER_RAW_BYTES,
        )
        wrapped = Envelope(
            # Derived from the input's position, so a redelivered bad record yields the same id.
            id=f"dead-letter:{record.topic}:{record.partition}:{record.offset}",
            type="dead_letter",
            time=datetime.fromtimestamp(record.timestamp, tz=UTC),
            domain=domain,
            source=SOURCE,
            data=letter.model_dump(mode="json"),
        )
        key = record.key.decode(errors="replace") if record.key else domain
        return OutputRecord(self._topics.dead_letters, key, wrapped.to_bytes())
