"""Check a run against the promises, from what it left behind: the input and output topics, and the store.

Reusable by any run that drives real workers (the cluster e2e test, chaos runs with kills and restarts):
`await check_run(settings, store)` reads every topic from the start to its current end and returns a
`PromiseReport` of counts; `replay(inputs, outputs)` is the same check without I/O.

What is checked, and how:
- No contact lost (promise 1): every contact that arrived (an input `contact.arrived` not dead-lettered)
  has a `contact.closed` decision. Contacts still open in the store are counted apart (`still_open`):
  the run may not be over yet; a contact neither closed nor in the store is `lost`.
- No agent over capacity (promise 2): the routing decisions of each domain are replayed in their
  order (one domain's outputs share one partition, so Kafka keeps their order). An assignment holds
  the agent's channel until the contact is closed, its offer times out, or the contact is decided on
  again after an input that silently released it (`contact.rejected`, `contact.not_answered`,
  `contact.transferred`: their decisions name them as `trigger_event_id`). An assignment that takes
  an agent past the highest capacity any of its logins gave is counted. The store's agents are
  checked too (`over_capacity_in_store`).
- No conflicting decisions (promise 4): the same decision id with different content, a contact
  assigned (or queued) while another assignment of it still holds (`overlapping`), or a contact
  closed twice under different decision ids. Re-emissions with the same id and content are
  allowed (at-least-once) and counted (`reemitted`).
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from contact_router.security import aiokafka_kwargs
from contact_router.settings import Settings
from contact_router.state.store import StateStore

# Inputs after which the engine releases an agent without a decision saying so: the contact's next
# decision (assigned elsewhere, or queued) is the first the checker hears of it.
SILENT_RELEASES = {"contact.rejected", "contact.not_answered", "contact.transferred"}


@dataclass
class PromiseReport:
    domains: int = 0
    arrived: int = 0
    closed: Counter[str] = field(default_factory=Counter)  # by outcome
    without_outcome: int = 0  # arrived, no contact.closed (yet)
    still_open: int = 0  # ... of which the store still holds (waiting or in progress)
    lost: int = 0  # ... of which the store does not know either
    decisions: int = 0  # distinct routing decisions
    reemitted: int = 0  # same id, same content: redelivery, allowed
    assignments: int = 0
    over_capacity: int = 0  # assignments past the agent's capacity, in the replay
    over_capacity_in_store: int = 0  # agent channels over capacity in the store now
    conflicting: int = 0  # same decision id, different content
    overlapping: int = 0  # a contact assigned or queued while an assignment of it holds
    closed_twice: int = 0  # a contact closed under two decision ids
    dead_letters: int = 0
    examples: list[str] = field(default_factory=list)  # the first few violations, for the reader
    missing: set[tuple[str, str]] = field(default_factory=set, repr=False)  # (domain, contact) without outcome
    domain_names: set[str] = field(default_factory=set, repr=False)

    @property
    def promises_kept(self) -> bool:
        """Everything arrived has an outcome, nobody over capacity, no two decisions in conflict."""
        return not (
            self.without_outcome or self.over_capacity or self.over_capacity_in_store or self.conflicting
            or self.overlapping or self.closed_twice
        )  # fmt: skip

    def note(self, text: str) -> None:
        if len(self.examples) < 20:
            self.examples.append(text)

    def as_dict(self) -> dict[str, Any]:
        return {
            "domains": self.domains, "arrived": self.arrived, "closed": dict(self.closed),
            "without_outcome": self.without_outcome, "still_open": self.still_open, "lost": self.lost,
            "decisions": self.decisions, "reemitted": self.reemitted, "assignments": self.assignments,
            "over_capacity": self.over_capacity, "over_capacity_in_store": self.over_capacity_in_store,
            "conflicting": self.conflicting, "overlapping": self.overlapping, "closed_twice": self.closed_twice,
            "dead_letters": self.dead_letters, "promises_kept": self.promises_kept, "examples": self.examples,
        }  # fmt: skip

    def render(self) -> str:
        closed = ", ".join(f"{k} {v}" for k, v in sorted(self.closed.items())) or "none"
        lines = [
            f"{self.domains} domains, {self.arrived} contacts arrived; closed: {closed}",
            f"without an outcome: {self.without_outcome} (still open in the store {self.still_open}, lost {self.lost})",
            f"{self.decisions} decisions ({self.reemitted} re-emitted), {self.assignments} assignments",
            f"over capacity: {self.over_capacity} in the replay, {self.over_capacity_in_store} in the store",
            f"conflicting ids: {self.conflicting}, overlapping assignments: {self.overlapping}, "
            f"closed twice: {self.closed_twice}; dead letters: {self.dead_letters}",
            "promises kept" if self.promises_kept else "PROMISES BROKEN",
        ]
        return "\n".join(lines + [f"  e.g. {e}" for e in self.examples])


class _Domain:
    """One domain's replay: who holds which contact, on which channel."""

    def __init__(self, capacity: dict[str, dict[str, int]]) -> None:
        self.capacity = capacity
        self.holder: dict[str, tuple[str, str]] = {}  # contact -> (agent, channel)
        self.load: dict[str, Counter[str]] = defaultdict(Counter)  # agent -> channel -> contacts held
        self.closed_by: dict[str, str] = {}  # contact -> the decision id that closed it

    def release(self, contact_id: str) -> None:
        held = self.holder.pop(contact_id, None)
        if held is not None:
            agent, channel = held
            self.load[agent][channel] -= 1


def replay(inputs: Iterable[dict[str, Any]], outputs: Sequence[dict[str, Any]]) -> PromiseReport:
    """The check without I/O. `inputs`: the input envelopes (both input topics, any order). `outputs`:
    the envelopes of the routing-decisions and dead-letter topics, each domain's in the order they
    were written (the order of their partition)."""
    report = PromiseReport()
    by_id: dict[str, dict[str, Any]] = {}
    arrivals: dict[str, tuple[str, str]] = {}  # arrival event id -> (domain, contact)
    capacity: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)  # domain -> agent -> channel -> max
    for env in inputs:
        if not isinstance(env, dict) or not isinstance(env.get("data"), dict) or "id" not in env:
            continue  # malformed input: the workers dead-letter it
        by_id[env["id"]] = env
        data, domain = env["data"], str(env.get("domain"))
        if env.get("type") == "contact.arrived" and "contact_id" in data:
            arrivals[env["id"]] = (domain, data["contact_id"])
        elif env.get("type") == "agent.logged_in" and "agent_id" in data:
            known = capacity[domain].setdefault(data["agent_id"], {})
            for channel, n in (data.get("capacity") or {}).items():
                known[channel] = max(known.get(channel, 0), int(n))

    dead = {o["data"].get("event_id") for o in outputs if o.get("type") == "dead_letter"}
    report.dead_letters = sum(1 for o in outputs if o.get("type") == "dead_letter")
    arrived = {(d, c) for event_id, (d, c) in arrivals.items() if event_id not in dead}
    report.arrived = len(arrived)

    domains: dict[str, _Domain] = {}
    seen: dict[str, bytes] = {}
    released_by: set[str] = set()  # silent-release inputs already applied
    closed: set[tuple[str, str]] = set()
    for out in outputs:
        if out.get("type") == "dead_letter" or "decision_id" not in out.get("data", {}):
            continue
        content = orjson.dumps({"type": out["type"], "domain": out["domain"], "data": out["data"]}, option=orjson.OPT_SORT_KEYS)
        first = seen.get(out["id"])
        if first is not None:
            if first == content:
                report.reemitted += 1
            else:
                report.conflicting += 1
                report.note(f"decision {out['id']} emitted with two contents")
            continue
        seen[out["id"]] = content
        report.decisions += 1
        domain = domains.setdefault(out["domain"], _Domain(capacity[out["domain"]]))
        data = out["data"]
        contact_id = data.get("contact_id")
        trigger = by_id.get(data.get("trigger_event_id", ""))
        if trigger is not None and trigger["type"] in SILENT_RELEASES and trigger["id"] not in released_by:
            released_by.add(trigger["id"])
            released = trigger["data"].get("contact_id", "")
            holder = domain.holder.get(released)
            # A rejection or a missed offer releases the agent it names; a transfer, whoever holds it.
            if holder is not None and trigger["data"].get("agent_id", holder[0]) == holder[0]:
                domain.release(released)
        kind = out["type"]
        if kind in ("contact.assigned", "contact.queued") and contact_id in domain.holder:
            report.overlapping += 1
            report.note(f"{out['domain']}/{contact_id}: {kind} {out['id']} while held by {domain.holder[contact_id][0]}")
            domain.release(contact_id)
        if kind == "contact.assigned":
            report.assignments += 1
            agent, channel = data["agent_id"], data["channel"]
            domain.holder[contact_id] = (agent, channel)
            domain.load[agent][channel] += 1
            limit = domain.capacity.get(agent, {}).get(channel, 0)
            if domain.load[agent][channel] > limit:
                report.over_capacity += 1
                report.note(f"{out['domain']}/{agent}: {domain.load[agent][channel]} {channel} contacts, capacity {limit}")
        elif kind == "contact.offer_timed_out":
            domain.release(contact_id)
        elif kind == "contact.closed":
            domain.release(contact_id)
            if contact_id in domain.closed_by:
                report.closed_twice += 1
                report.note(f"{out['domain']}/{contact_id} closed by {domain.closed_by[contact_id]} and {out['id']}")
                continue
            domain.closed_by[contact_id] = out["id"]
            closed.add((out["domain"], contact_id))
            report.closed[data["outcome"]] += 1
    report.domain_names = {d for d, _ in arrived} | set(domains)
    report.domains = len(report.domain_names)
    report.missing = arrived - closed
    report.without_outcome = len(report.missing)
    report.lost = len(report.missing)  # until the store says otherwise (check_store)
    for d, c in sorted(report.missing)[:5]:
        report.note(f"{d}/{c}: no outcome")
    return report


async def check_store(report: PromiseReport, store: StateStore) -> PromiseReport:
    """Complete a replay's report from the store: contacts without an outcome that are still open
    there (not lost, the run is not over), and agents over capacity in the live state."""
    open_contacts: set[tuple[str, str]] = set()
    for domain in sorted(report.domain_names):
        state = (await store.load(domain)).state
        open_contacts |= {(domain, c) for c in state.contacts}
        for agent in state.agents.values():
            for channel, cap in agent.capacity.items():
                if agent.load(channel) > cap:
                    report.over_capacity_in_store += 1
                    report.note(f"{domain}/{agent.agent_id}: {agent.load(channel)} {channel} in the store, capacity {cap}")
    report.still_open = len(report.missing & open_contacts)
    report.lost = len(report.missing - open_contacts)
    return report


# ------------------------------------------------------------------ reading the topics


async def read_topic_to_end(settings: Settings, topic: str, *, meta: bool = False) -> list[dict[str, Any]]:
    """Every record of `topic` from the start to its end as of now, decoded (undecodable ones as
    `{"_raw": bytes}`), partition by partition (each in its order). `meta`: each also gets its
    `_partition` and `_timestamp` (the record's, in seconds), e.g. to find when nothing was published."""
    consumer = AIOKafkaConsumer(**aiokafka_kwargs(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = None
        for _ in range(50):
            partitions = consumer.partitions_for_topic(topic)
            if partitions:
                break
            await consumer._client.force_metadata_update()  # noqa: SLF001 - aiokafka has no public refresh
            await asyncio.sleep(0.1)
        if not partitions:
            raise RuntimeError(f"topic {topic!r} does not exist")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: dict[int, list[dict[str, Any]]] = {tp.partition: [] for tp in tps}
        pending = {tp for tp in tps if ends[tp] > 0}
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, messages in batch.items():
                for m in messages:
                    if m.offset < ends[tp]:
                        try:
                            record = orjson.loads(m.value)
                        except orjson.JSONDecodeError:
                            record = {"_raw": m.value}
                        if meta and isinstance(record, dict):
                            record |= {"_partition": m.partition, "_timestamp": m.timestamp / 1000}
                        records[tp.partition].append(record)
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        return [r for p in sorted(records) for r in records[p]]
    finally:
        await consumer.stop()


async def read_run(settings: Settings) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The run's inputs and outputs (routing decisions, dead letters), as `replay` takes them."""
    inputs = await read_topic_to_end(settings, settings.topic_agent_events)
    inputs += await read_topic_to_end(settings, settings.topic_contact_events)
    outputs = await read_topic_to_end(settings, settings.topic_routing_decisions)
    outputs += await read_topic_to_end(settings, settings.topic_dead_letters)
    return inputs, outputs


async def check_run(settings: Settings, store: StateStore) -> PromiseReport:
    """Read the run's topics (as `settings` names them) and its store; the promises as counts."""
    return await check_store(replay(*await read_run(settings)), store)
