"""Rebuild the Redis state from Kafka, and the worker's check that the state it routes on is whole.

The inputs are the source of truth: contact-events and agent-events, with the timer.fired events the
workers publish to contact-events. Replaying them, from the earliest retained offset up to the end
offsets captured when the rebuild starts, through the same RoutingService into an emptied namespace
reconstructs the state, the outbox of applied event ids and the deadline index.

Outputs are not re-published: decision ids are derived from the triggering event, so the replay
recomputes the decisions the platform already has. Inputs the consumer group had not committed when
the state was lost are redelivered to the workers afterwards; the rebuilt outbox answers them as
duplicates and the workers publish the stored outputs then, so nothing is lost and nothing is sent
twice from here. The replayed decisions are checked against those on routing-decisions.

Order: a domain's events are in one partition of each input topic; within a topic Kafka keeps their
order, but how the live worker interleaved the two topics is not recorded. The replay merges them by
record timestamp (then agent-events first, then offset), which is the live order whenever the worker
kept up with its input. When it was behind on both topics at once, or producers' clocks disagree,
the replay can interleave differently and decide differently; the check against routing-decisions
counts such decisions (`differs`) so that it is seen, not assumed away.

Retention: a replay can only rebuild what Kafka still holds. The input topics need a retention
longer than the longest-lived state (agents logged in for days, contacts in progress, the 7-day
customer histories of repeat contacts), or none (retention.ms=-1). Otherwise the rebuild starts at
the first retained record: agents who logged in before it are unknown until they log in again,
events about older contacts are dead-lettered as not applicable, and the report says so.

Worker start: the namespace carries a marker, written at a worker's first start on empty input
topics, or at the end of a rebuild. A worker that finds no marker while the input topics hold
records does not route and does not rebuild on its own: it waits, saying "run contact-router
rebuild". Rebuilding automatically would also fire on a wrong REDIS_URL or key prefix and quietly
build a second copy of the state, and several workers would race to do it; one explicit command,
run once, with the workers out of the group, is simpler to trust.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import orjson
import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError

from contact_router.security import aiokafka_kwargs
from contact_router.service import RoutingService, SourceRecord
from contact_router.settings import Settings
from contact_router.state.memory import InMemoryStore
from contact_router.state.redis_store import RedisStore
from contact_router.state.store import StateStore

log = structlog.get_logger("contact_router.rebuild")

FETCH_RECORDS = 500


class RebuildRefused(RuntimeError):
    """Rebuilding now would race a running worker."""


@dataclass
class RebuildReport:
    dry_run: bool
    ends: dict[str, int]  # "topic:partition" -> end offset replayed up to
    truncated: dict[str, int] = field(default_factory=dict)  # "topic:partition" -> first retained offset, if > 0
    domains: set[str] = field(default_factory=set)
    results: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)  # matched / differs / unpublished
    differing_domains: list[str] = field(default_factory=list)  # dry run: Redis holds other state
    seconds: float = 0.0

    def render(self) -> str:
        records = sum(self.results.values())
        lines = [
            f"{'dry run: ' if self.dry_run else ''}replayed {records} input records of {len(self.domains)} domains "
            f"in {self.seconds:.1f} s: " + ", ".join(f"{k} {v}" for k, v in sorted(self.results.items())),
            "decisions against routing-decisions: " + (", ".join(f"{k} {v}" for k, v in sorted(self.decisions.items())) or "none"),
        ]
        if self.dead_letters:
            lines.append("dead-lettered (not published): " + ", ".join(f"{k} {v}" for k, v in sorted(self.dead_letters.items())))
        if self.decisions["differs"]:
            lines.append(
                "WARNING: some replayed decisions differ from the published ones (the live worker interleaved the "
                "input topics otherwise); the platform acted on the published ones."
            )
        if self.truncated:
            lines.append(
                "WARNING: retention deleted the start of " + ", ".join(f"{tp} (first offset {o})" for tp, o in sorted(self.truncated.items()))
                + ": state that began before is missing."
            )
        if self.dry_run:
            lines.append(
                "Redis differs from the replay for: " + (", ".join(self.differing_domains) if self.differing_domains else "no domain")
            )
        return "\n".join(lines)


def _consumer(settings: Settings) -> AIOKafkaConsumer:
    # No group: a rebuild reads, it never commits or takes partitions from the workers.
    return AIOKafkaConsumer(**aiokafka_kwargs(settings), enable_auto_commit=False, group_id=None)


async def _partitions(settings: Settings, topic: str) -> list[TopicPartition]:
    """The topic's partitions (none if it does not exist)."""
    admin = AIOKafkaAdminClient(**aiokafka_kwargs(settings))
    await admin.start()
    try:
        (found,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(TopicPartition(topic, p["partition"]) for p in found["partitions"])


async def records_held(settings: Settings) -> int:
    """Input records Kafka still holds (end - beginning over both topics' partitions)."""
    consumer = _consumer(settings)
    await consumer.start()
    try:
        tps = [tp for t in (settings.topic_contact_events, settings.topic_agent_events) for tp in await _partitions(settings, t)]
        if not tps:
            return 0
        begin, end = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
        return sum(end[tp] - begin[tp] for tp in tps)
    finally:
        await consumer.stop()


async def wait_for_store(
    settings: Settings, store: RedisStore, poll_seconds: float = 2.0, say_every_seconds: float = 30.0
) -> None:
    """Return once the namespace has its marker. A first start on empty input topics writes it; an
    empty namespace while the topics hold records waits for `contact-router rebuild`."""
    said = -say_every_seconds
    while True:
        if await store.marker() is not None:
            return
        held = await records_held(settings)
        if held == 0:
            await store.write_marker({"written_by": "first start", "at": time.time()})
            log.info("empty store and empty input topics: first start, marker written")
            return
        if time.monotonic() - said >= say_every_seconds:
            said = time.monotonic()
            log.error(
                "the store has no marker while the input topics hold records: its state was lost. "
                "Not routing until `contact-router rebuild` has run",
                records=held, key_prefix=settings.redis_key_prefix,
            )
        await asyncio.sleep(poll_seconds)


async def group_members(settings: Settings, coordinator_wait_seconds: float = 30.0) -> int:
    """Members of the workers' consumer group. A new cluster has no group coordinator until its
    offsets topic exists (the first group creates it): wait for one rather than fail."""
    admin = AIOKafkaAdminClient(**aiokafka_kwargs(settings))
    await admin.start()
    try:
        deadline = time.monotonic() + coordinator_wait_seconds
        while True:
            try:
                (response,) = await admin.describe_consumer_groups([settings.app_id])
                return sum(len(g["members"]) for g in response.to_object()["groups"])
            except GroupCoordinatorNotAvailableError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await admin.close()


async def _merged(
    consumer: AIOKafkaConsumer, pair: list[TopicPartition], begin: dict[TopicPartition, int], end: dict[TopicPartition, int]
) -> AsyncIterator[ConsumerRecord]:
    """The records of one partition of each input topic, up to `end`, merged by (timestamp, topic
    rank, offset); `pair` is in rank order."""
    consumer.assign(pair)
    buffers: dict[TopicPartition, list[ConsumerRecord]] = {tp: [] for tp in pair}
    for tp in pair:
        consumer.seek(tp, begin[tp])
    next_offset = dict(begin)

    async def fill(tp: TopicPartition) -> None:
        while not buffers[tp] and next_offset[tp] < end[tp]:
            got = await consumer.getmany(tp, timeout_ms=1000, max_records=FETCH_RECORDS)
            for record in got.get(tp, []):
                if record.offset < end[tp]:
                    buffers[tp].append(record)
            # The position, not the last offset + 1: offsets may have gaps (transaction markers).
            next_offset[tp] = await consumer.position(tp)
            buffers[tp].reverse()  # pop() from the end takes the oldest

    rank = {tp: i for i, tp in enumerate(pair)}
    while True:
        for tp in pair:
            await fill(tp)
        heads = [(b[-1].timestamp, rank[tp], b[-1].offset, tp) for tp, b in buffers.items() if b]
        if not heads:
            return
        tp = min(heads)[3]
        yield buffers[tp].pop()


async def _published_decisions(settings: Settings, domains: set[str] | None) -> dict[str, bytes]:
    """Decision id -> digest of the envelope published on routing-decisions (up to its end now)."""
    consumer = _consumer(settings)
    await consumer.start()
    published: dict[str, bytes] = {}
    try:
        tps = await _partitions(settings, settings.topic_routing_decisions)
        if not tps:
            return published
        begin, end = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, begin[tp])
        remaining = {tp for tp in tps if end[tp] > begin[tp]}
        while remaining:
            for tp, records in (await consumer.getmany(*remaining, timeout_ms=1000, max_records=FETCH_RECORDS)).items():
                for r in records:
                    if r.offset < end[tp] and (domains is None or (r.key or b"").decode(errors="replace") in domains):
                        published[_decision_id(r.value)] = _digest(r.value)
            remaining = {tp for tp in remaining if await consumer.position(tp) < end[tp]}
    finally:
        await _stop(consumer)
    return published


async def _stop(consumer: AIOKafkaConsumer) -> None:
    # aiokafka 0.14's stop() of a group-less consumer that had assigned partitions was seen to take
    # from 13 s to minutes (its fetcher kept polling); the rebuild's work is done by then.
    try:
        await asyncio.wait_for(consumer.stop(), timeout=5.0)
    except TimeoutError:
        log.warning("the Kafka consumer did not stop within 5 s; going on without it")


def _decision_id(value: bytes | None) -> str:
    try:
        return str(orjson.loads(value or b"{}").get("id", ""))
    except orjson.JSONDecodeError:
        return ""


def _digest(value: bytes | None) -> bytes:
    return hashlib.blake2b(value or b"", digest_size=16).digest()


async def rebuild(
    settings: Settings,
    store: RedisStore,
    service_for: Callable[[StateStore], RoutingService],
    *,
    domains: set[str] | None = None,
    dry_run: bool = False,
) -> RebuildReport:
    """Replay the input topics into the store (emptied first), or into memory with `dry_run` and
    compare with what Redis holds. Refuses while workers are in the consumer group."""
    started = time.monotonic()
    if not dry_run and await group_members(settings):
        raise RebuildRefused(
            f"workers are in consumer group {settings.app_id!r}: stop them first "
            f"(a killed worker stays a member until the Kafka session timeout, {settings.kafka_session_timeout_seconds:g} s by default)"
        )
    target: StateStore = InMemoryStore() if dry_run else store
    service = service_for(target)
    consumer = _consumer(settings)
    await consumer.start()
    try:
        contact_tps = await _partitions(settings, settings.topic_contact_events)
        agent_tps = await _partitions(settings, settings.topic_agent_events)
        tps = contact_tps + agent_tps
        begin, end = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
        report = RebuildReport(
            dry_run,
            ends={f"{tp.topic}:{tp.partition}": end[tp] for tp in tps},
            truncated={f"{tp.topic}:{tp.partition}": begin[tp] for tp in tps if begin[tp] > 0},
        )
        log.info("replaying up to the end offsets captured now", records=sum(end[tp] - begin[tp] for tp in tps))
        published = await _published_decisions(settings, domains)
        log.info("published decisions read, for the check", decisions=len(published))
        if not dry_run:
            # The marker goes first: a worker that starts meanwhile waits, and one still routing
            # stops at its next load (StoreLost) instead of writing into the half-built namespace.
            await store.delete_marker()
            wiped = await store.wipe(sorted(domains) if domains is not None else None)
            log.info("namespace emptied for the rebuild", keys=wiped, domains=sorted(domains) if domains else "all")
        by_partition = {tp.partition: [tp] for tp in agent_tps}
        for tp in contact_tps:
            by_partition.setdefault(tp.partition, []).append(tp)
        batch: list[SourceRecord] = []

        async def replay(records: list[SourceRecord]) -> None:
            # In batches, as a worker takes them: one store commit per domain per batch.
            for processed in await service.process_batch(records):
                report.results[processed.result.value] += 1
                if processed.reason_kind is not None:
                    report.dead_letters[processed.reason_kind] += 1
                if processed.domain is not None:
                    report.domains.add(processed.domain)
                for out in processed.outputs:
                    if out.topic == settings.topic_routing_decisions:
                        digest = published.get(_decision_id(out.value))
                        report.decisions["unpublished" if digest is None else "matched" if digest == _digest(out.value) else "differs"] += 1
            records.clear()

        for _, pair in sorted(by_partition.items()):
            async for r in _merged(consumer, pair, begin, end):
                domain = (r.key or b"").decode(errors="replace")
                if domains is not None and domain not in domains:
                    continue
                batch.append(SourceRecord(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp / 1000))
                if len(batch) >= settings.batch_max_events:
                    await replay(batch)
        if batch:
            await replay(batch)
    finally:
        await _stop(consumer)
    if dry_run:
        for domain in sorted(report.domains):
            if await store.load(domain) != await target.load(domain):
                report.differing_domains.append(domain)
    else:
        await store.write_marker({"written_by": "rebuild", "at": time.time(), "ends": report.ends})
    report.seconds = time.monotonic() - started
    return report
