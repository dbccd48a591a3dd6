"""The platform simulator: plays the telephony/chat platform and its people against the real pipeline.

It samples the scenario's workload (the same as the offline simulator's: shifts, breaks, outages,
arrivals with bursts or a replayed day, each customer's fate) and plays it through Kafka, reacting to
the routing decisions it reads back with the shared behaviour model (sim/people.py): agents answer,
reject or let offers ring out; contacts are handled for a time that depends on where the agent
works, with sentiment updates, then end, or are transferred once; customers hang up or ask for a
callback when their patience ends, and some come back (the same queue, or another channel).

A speed factor compresses the people's time: at speed 10 a 4-minute call lasts 24 s of wall time.
Event times are wall time, so the workers' own timers (offer timeouts, wrap-up, relaxation, the
sweeper) are not compressed: give the workers a routing config in wall seconds. Waits are reported
in simulated seconds (wall x speed). Decision latency is wall time from publishing the triggering
event to reading the decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import heapq
import math
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contact_router.contract import AgentLoggedIn, AgentStateChanged, Envelope, InputEvent
from contact_router.contract.events import INPUT_TYPE_NAMES
from contact_router.security import aiokafka_kwargs
from contact_router.settings import Settings
from contact_router.sim.people import People
from contact_router.sim.scenario import Scenario
from contact_router.sim.workload import Arrival, from_scenario

SOURCE = "simulator"
ANSWER_MARGIN_SECONDS = 0.5  # wall time an answer needs to reach the worker before its offer times out
DRAIN_SECONDS = 10.0  # wall time given to contacts in progress at the end of a run


@dataclass
class QueueCounts:
    arrived: int = 0
    answered: int = 0
    answered_in_time: int = 0
    abandoned: int = 0  # hung up before being answered
    completed: int = 0
    callbacks: int = 0
    transferred: int = 0
    repeats: int = 0
    hops: int = 0

    def service_level(self) -> float:
        finished = self.answered + self.abandoned
        return self.answered_in_time / finished if finished else math.nan


@dataclass
class Stats:
    arrived: int = 0
    assigned: int = 0  # routed at least once
    answered: int = 0
    completed: int = 0
    abandoned: int = 0  # closed as abandoned or expired by the workers
    dead_letters: int = 0
    malformed_sent: int = 0
    undelivered: int = 0  # events the producer gave up on (a broker away longer than its request timeout)
    answered_within_20s: int = 0  # within the queue's service-level threshold, in simulated seconds
    abandoned_while_waiting: int = 0
    rejected: int = 0
    rung_out: int = 0
    callbacks: int = 0
    transferred: int = 0
    sentiment_updates: int = 0
    breaks: int = 0
    repeats: int = 0
    hops: int = 0
    queues: dict[str, QueueCounts] = field(default_factory=lambda: defaultdict(QueueCounts))
    latencies: list[float] = field(default_factory=list)  # seconds, since the last summary
    all_latencies: list[float] = field(default_factory=list)

    @property
    def waiting(self) -> int:
        return self.arrived - self.assigned - self.abandoned_while_waiting

    def service_level(self) -> float:
        """Answered in time over answered and hung up before an answer, as the offline simulator."""
        finished = self.answered + sum(q.abandoned for q in self.queues.values())
        return self.answered_within_20s / finished if finished else math.nan


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass
class _Contact:
    domain: str
    arrival: Arrival
    queue: str
    assigned: bool = False  # routed at least once
    connected: bool = False  # the agent answered (or the assignment was final)
    offered_to: str | None = None  # ringing this agent now
    abandoned: bool = False  # the customer hung up (the worker closes it)
    callback: bool = False
    transferred: bool = False
    answered_once: bool = False
    handling: int = 0  # which handling (a transfer starts another): stale timers are ignored


class PlatformSimulator:
    def __init__(
        self,
        scenario: Scenario,
        settings: Settings,
        *,
        seed: int = 7,
        duration: float | None = None,
        speed: float = 1.0,
        summary_every: float = 5.0,
        on_summary: Callable[[str], None] | None = print,
        on_tick: Callable[[PlatformSimulator], None] | None = None,
        run_id: str | None = None,
        drain_seconds: float = DRAIN_SECONDS,
    ) -> None:
        """duration: wall seconds to run, playing the scenario's period again and again (inf: until
        cancelled); None: play it once, then let contacts in progress end (for up to `drain_seconds`)."""
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.scenario = scenario
        self.settings = settings
        self.seed = seed
        self.rng = random.Random(seed)
        self.duration = duration
        self.speed = speed
        self.summary_every = summary_every
        self.on_summary = on_summary
        self.on_tick = on_tick
        self.run_id = run_id or uuid.uuid4().hex[:8]
        self.drain_seconds = drain_seconds
        self.stats = Stats()
        # Each run plays its own domains: live state left in Redis by an earlier run (agents holding
        # contacts that run never ended) must not leak into this one.
        self.domains = [f"{d}-{self.run_id}" for d in scenario.domains]
        first = from_scenario(scenario, random.Random(seed))
        self.horizon = first.horizon  # simulated seconds of one period
        self.end = self.horizon if duration is None else duration * speed  # simulated seconds
        self.people = People(first, self.rng)
        self._contacts: dict[str, _Contact] = {}
        self._locations: dict[tuple[str, str], str | None] = {}
        self._sent_at: dict[str, float] = {}
        self._producer: AIOKafkaProducer | None = None
        self._heap: list[tuple[float, int, str, Any]] = []
        self._seq = 0
        self._events = 0
        self._wake = asyncio.Event()
        self._started = time.monotonic()

    # ------------------------------------------------------------ the clock

    def now(self) -> float:
        """Simulated seconds since the start."""
        return (time.monotonic() - self._started) * self.speed

    @property
    def events_sent(self) -> int:
        return self._events

    def _at(self, t: float, kind: str, payload: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, kind, payload))
        self._wake.set()

    # ------------------------------------------------------------ running

    async def run(self) -> Stats:
        s = self.settings
        self._producer = AIOKafkaProducer(**aiokafka_kwargs(s), acks="all", linger_ms=0)
        consumer = AIOKafkaConsumer(**aiokafka_kwargs(s), enable_auto_commit=False)
        await self._producer.start()
        await consumer.start()
        try:
            await self._from_end(consumer, [s.topic_routing_decisions, s.topic_dead_letters])
            self._wake = asyncio.Event()
            self._started = time.monotonic()
            self._at(0.0, "period", 0)
            helpers = [asyncio.create_task(self._read_outputs(consumer)), asyncio.create_task(self._reporting())]
            try:
                await self._play()
            finally:
                for task in helpers:
                    task.cancel()
                await asyncio.gather(*helpers, return_exceptions=True)
        finally:
            await consumer.stop()
            await self._producer.stop()
        return self.stats

    async def _play(self) -> None:
        """Act on everything due, in simulated-time order; sleep until the next thing or a wake-up."""
        drain_until: float | None = None
        while True:
            now = self.now()
            if now >= self.end:
                if drain_until is None:
                    drain_until = time.monotonic() + (self.drain_seconds if math.isfinite(self.end) else 0.0)
                open_contacts = any(c.connected or c.offered_to for c in self._contacts.values())
                if not open_contacts or time.monotonic() >= drain_until:
                    return
            if self._heap and self._heap[0][0] <= now:
                _, _, kind, payload = heapq.heappop(self._heap)
                if kind in ("period", "agent", "arrive") and now >= self.end:
                    continue  # the run is over: no new people, only what is in progress ends
                await self._act(kind, payload)
                continue
            delay = (self._heap[0][0] - now) / self.speed if self._heap else 0.5
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(max(delay, 0.0), 0.5))

    async def _act(self, kind: str, payload: Any) -> None:
        match kind:
            case "period":
                self._schedule_period(payload)
            case "agent":
                await self._agent_event(*payload)
            case "arrive":
                await self._arrive(*payload)
            case "patience":
                await self._patience_ends(payload)
            case "answer" | "reject":
                await self._respond(kind, *payload)
            case "sentiment":
                await self._sentiment(*payload)
            case "end":
                await self._end(*payload)

    def _schedule_period(self, k: int) -> None:
        """Period k of every domain: its own sample of the scenario, shifted k periods on."""
        offset = k * self.horizon
        for i, domain in enumerate(self.domains):
            workload = from_scenario(self.scenario, random.Random(f"{self.seed}/{i}/{k}"))
            for t, event in workload.agent_events:
                self._at(offset + t, "agent", (domain, event))
            for arrival in workload.arrivals:
                self._at(offset + arrival.at, "arrive", (domain, self._own(arrival, f"{i}-{k}")))
        if offset + self.horizon < self.end:
            self._at(offset + self.horizon, "period", k + 1)

    def _own(self, arrival: Arrival, prefix: str) -> Arrival:
        """This run's ids: contacts and customers of two runs or periods never meet."""
        event = arrival.event
        ref = f"{self.run_id}-{prefix}-{event.customer_ref}" if event.customer_ref else None
        own = event.model_copy(update={"contact_id": f"c-{self.run_id}-{prefix}-{event.contact_id}", "customer_ref": ref})
        comeback = arrival.comeback
        if comeback is not None:
            comeback = dataclasses.replace(comeback, arrival=self._own(comeback.arrival, prefix))
        return dataclasses.replace(arrival, event=own, comeback=comeback)

    async def _from_end(self, consumer: AIOKafkaConsumer, topics: list[str]) -> None:
        """Read decisions from the current end: pin positions before publishing anything."""
        partitions = []
        for topic in topics:
            for p in await _partitions_of(consumer, topic):
                partitions.append(TopicPartition(topic, p))
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:
            await consumer.position(tp)

    # ------------------------------------------------------------ publishing

    def _event_id(self) -> str:
        self._seq += 1
        return f"sim-{self.run_id}-{self._seq}"

    async def publish(self, topic: str, domain: str, type_: str, data: dict[str, Any]) -> str:
        assert self._producer is not None
        env = Envelope(
            id=self._event_id(), type=type_, time=datetime.now(UTC), domain=domain, source=SOURCE, data=data
        )
        self._sent_at[env.id] = time.perf_counter()
        self._events += 1
        delivery = await self._producer.send(topic, env.to_bytes(), key=domain.encode())
        delivery.add_done_callback(self._delivered)
        return env.id

    def _delivered(self, delivery: asyncio.Future[Any]) -> None:
        if delivery.cancelled() or delivery.exception() is not None:
            self.stats.undelivered += 1

    async def _contact_event(self, domain: str, type_: str, data: dict[str, Any]) -> None:
        await self.publish(self.settings.topic_contact_events, domain, type_, data)

    async def _agent_event(self, domain: str, event: InputEvent) -> None:
        if isinstance(event, AgentLoggedIn):
            self._locations[(domain, event.agent_id)] = event.location
        if isinstance(event, AgentStateChanged) and event.reason == "break":
            self.stats.breaks += 1
        data = event.model_dump(mode="json", exclude_none=True)
        await self.publish(self.settings.topic_agent_events, domain, INPUT_TYPE_NAMES[type(event)], data)

    async def _arrive(self, domain: str, arrival: Arrival) -> None:
        event = arrival.event
        contact = _Contact(domain, arrival, event.queue)
        self._contacts[event.contact_id] = contact
        counts = self.stats.queues[event.queue]
        self.stats.arrived += 1
        counts.arrived += 1
        if arrival.kind == "repeat":
            self.stats.repeats += 1
            counts.repeats += 1
        elif arrival.kind == "hop":
            self.stats.hops += 1
            counts.hops += 1
        await self._contact_event(domain, "contact.arrived", event.model_dump(mode="json", exclude_none=True))
        if math.isfinite(arrival.patience_seconds):
            self._at(self.now() + arrival.patience_seconds, "patience", event.contact_id)
        if self.rng.random() < self.scenario.malformed_share:
            await self._publish_malformed(domain)

    async def _publish_malformed(self, domain: str) -> None:
        assert self._producer is not None
        self.stats.malformed_sent += 1
        bad = self.rng.choice([b"{not json", b'{"type": "contact.arrived"}', b'"just a string"'])
        delivery = await self._producer.send(self.settings.topic_contact_events, bad, key=domain.encode())
        delivery.add_done_callback(self._delivered)

    async def _patience_ends(self, contact_id: str) -> None:
        """Hang up (also while an agent's phone rings), or ask to be called back if still waiting."""
        contact = self._contacts.get(contact_id)
        if contact is None or contact.connected or contact.callback or contact.abandoned or contact.answered_once:
            return
        counts = self.stats.queues[contact.queue]
        if contact.offered_to is None and self.people.when_patience_ends(contact.arrival) == "callback":
            contact.callback = True
            self.stats.callbacks += 1
            counts.callbacks += 1
            await self._contact_event(contact.domain, "contact.callback_requested", {"contact_id": contact_id})
            return
        contact.abandoned = True
        if not contact.assigned:
            self.stats.abandoned_while_waiting += 1  # never routed: no longer waiting
        counts.abandoned += 1
        await self._contact_event(contact.domain, "contact.abandoned", {"contact_id": contact_id})

    async def _respond(self, kind: str, contact_id: str, agent_id: str, waited: float) -> None:
        """The ringing agent answers or rejects, unless the offer moved on or the customer left."""
        contact = self._contacts.get(contact_id)
        if contact is None or contact.abandoned or contact.connected or contact.offered_to != agent_id:
            return
        data = {"contact_id": contact_id, "agent_id": agent_id}
        if kind == "reject":
            contact.offered_to = None
            self.stats.rejected += 1
            await self._contact_event(contact.domain, "contact.rejected", data)
            return
        await self._contact_event(contact.domain, "contact.accepted", data)
        self._connect(contact_id, contact, agent_id, waited)

    def _connect(self, contact_id: str, contact: _Contact, agent_id: str, waited: float) -> None:
        contact.connected, contact.offered_to = True, None
        contact.handling += 1
        if not contact.answered_once:
            contact.answered_once = True
            counts = self.stats.queues[contact.queue]
            self.stats.answered += 1
            counts.answered += 1
            if waited <= self.scenario.routing.policy(contact.queue).service_level_seconds:
                self.stats.answered_within_20s += 1
                counts.answered_in_time += 1
        location = self._locations.get((contact.domain, agent_id))
        handle = self.people.handle_seconds(contact.arrival, location, transferred=contact.transferred)
        now = self.now()
        for after, score in self.people.sentiment_updates(contact.arrival, waited, handle):
            self._at(now + after, "sentiment", (contact_id, contact.handling, score))
        self._at(now + handle, "end", (contact_id, contact.handling))

    async def _sentiment(self, contact_id: str, handling: int, score: float) -> None:
        contact = self._contacts.get(contact_id)
        if contact is None or not contact.connected or contact.handling != handling:
            return
        self.stats.sentiment_updates += 1
        await self._contact_event(contact.domain, "contact.sentiment", {"contact_id": contact_id, "score": score})

    async def _end(self, contact_id: str, handling: int) -> None:
        """Handling ends: the contact is completed, or transferred once if its customer's fate says so."""
        contact = self._contacts.get(contact_id)
        if contact is None or not contact.connected or contact.handling != handling:
            return
        arrival = contact.arrival
        if arrival.transfer_to is not None and not contact.transferred:
            contact.transferred, contact.connected = True, False
            self.stats.transferred += 1
            self.stats.queues[contact.queue].transferred += 1
            contact.queue = arrival.transfer_to
            await self._contact_event(
                contact.domain,
                "contact.transferred",
                {"contact_id": contact_id, "to_queue": arrival.transfer_to, "skills": arrival.transfer_skills},
            )
            return
        contact.connected = False
        await self._contact_event(contact.domain, "contact.ended", {"contact_id": contact_id, "resolved": arrival.resolved})

    # ------------------------------------------------------------ reading decisions

    async def _read_outputs(self, consumer: AIOKafkaConsumer) -> None:
        async for message in consumer:
            if message.topic == self.settings.topic_dead_letters:
                self.stats.dead_letters += 1
                continue
            doc = orjson.loads(message.value)
            data = doc.get("data", {})
            contact = self._contacts.get(data.get("contact_id", ""))
            if contact is None:
                continue  # another run's or another simulator's contact
            sent = self._sent_at.pop(data.get("trigger_event_id", ""), None)
            if sent is not None:
                latency = time.perf_counter() - sent
                self.stats.latencies.append(latency)
                self.stats.all_latencies.append(latency)
            if doc["type"] == "contact.assigned":
                self._assigned(data["contact_id"], contact, data)
            elif doc["type"] == "contact.offer_timed_out":
                if contact.offered_to == data["agent_id"]:
                    contact.offered_to = None
                    self.stats.rung_out += 1
            elif doc["type"] == "contact.closed":
                self._closed(data["contact_id"], contact, data)

    def _assigned(self, contact_id: str, contact: _Contact, data: dict[str, Any]) -> None:
        if contact.connected or contact.abandoned:
            return  # the customer hung up as the offer went out; the worker closes it
        if not contact.assigned:
            contact.assigned = True
            self.stats.assigned += 1
        agent_id = data["agent_id"]
        waited = data["waited_seconds"] * self.speed  # the worker measures wall seconds
        timeout = data.get("offer_timeout_seconds")
        if timeout is None:
            self._connect(contact_id, contact, agent_id, waited)
            return
        contact.offered_to = agent_id  # the agent's phone rings
        response = self.people.respond(timeout * self.speed, margin=ANSWER_MARGIN_SECONDS * self.speed)
        if response.kind != "ring_out":  # a ring-out is the worker's offer timeout
            kind = "answer" if response.kind == "accept" else "reject"
            self._at(self.now() + response.after, kind, (contact_id, agent_id, waited + response.after))

    def _closed(self, contact_id: str, contact: _Contact, data: dict[str, Any]) -> None:
        outcome = data["outcome"]
        if outcome == "completed":
            self.stats.completed += 1
            self.stats.queues[contact.queue].completed += 1
        else:
            self.stats.abandoned += 1
        self._contacts.pop(contact_id, None)
        if outcome in ("completed", "abandoned"):
            again = self.people.comes_back(contact.arrival, outcome, self.now())
            if again is not None and again.at < self.end:
                self._at(again.at, "arrive", (contact.domain, again))

    # ------------------------------------------------------------ reporting

    async def _reporting(self) -> None:
        last_summary = time.monotonic()
        while True:
            await asyncio.sleep(0.5)
            if self.on_tick is not None:
                self.on_tick(self)
            if self.on_summary is not None and time.monotonic() - last_summary >= self.summary_every:
                last_summary = time.monotonic()
                self.on_summary(self.summary_line(time.monotonic() - self._started))
                self.stats.latencies.clear()

    def summary_line(self, elapsed: float) -> str:
        st = self.stats
        recent = st.latencies or st.all_latencies
        return (
            f"[{elapsed:6.0f}s] arrived {st.arrived:6d}  routed {st.assigned:6d}  waiting {st.waiting:4d}  "
            f"completed {st.completed:6d}  abandoned {st.abandoned:5d}  dead letters {st.dead_letters:3d}  "
            f"SL(20s) {st.service_level():6.1%}  decision latency p50 {percentile(recent, 0.5) * 1000:6.1f} ms  "
            f"p99 {percentile(recent, 0.99) * 1000:6.1f} ms"
        )

    def report(self) -> dict[str, Any]:
        """The run's final figures: counts, service level per queue, decision latency."""
        st = self.stats
        lat = st.all_latencies
        return {
            "scenario": self.scenario.name,
            "domains": self.domains,
            "speed": self.speed,
            "simulated_seconds": round(min(self.now(), self.end), 1),
            "events_sent": self._events,
            "total": {
                "arrived": st.arrived,
                "answered": st.answered,
                "completed": st.completed,
                "abandoned_or_expired": st.abandoned,
                "waiting_or_open": len(self._contacts),
                "service_level": st.service_level(),
                "callbacks": st.callbacks,
                "transferred": st.transferred,
                "rejected_offers": st.rejected,
                "offers_rung_out": st.rung_out,
                "sentiment_updates": st.sentiment_updates,
                "breaks": st.breaks,
                "repeats": st.repeats,
                "hops": st.hops,
                "malformed_sent": st.malformed_sent,
                "dead_letters": st.dead_letters,
                "undelivered_events": st.undelivered,
            },
            "queues": {
                name: {**q.__dict__, "service_level": q.service_level()} for name, q in sorted(st.queues.items())
            },
            "decision_latency_ms": {
                "count": len(lat),
                "p50": percentile(lat, 0.5) * 1000,
                "p99": percentile(lat, 0.99) * 1000,
            },
        }


def render_report(report: dict[str, Any]) -> str:
    t, lat = report["total"], report["decision_latency_ms"]
    lines = [
        f"scenario {report['scenario']}: {report['simulated_seconds'] / 3600:.2f} simulated hours at speed "
        f"{report['speed']:g}, {report['events_sent']} events sent",
        f"{'queue':<16}{'arrived':>9}{'answered':>10}{'abandoned':>11}{'SL':>8}{'callbacks':>11}{'transf.':>9}"
        f"{'repeats':>9}{'hops':>6}",
    ]
    for name, q in report["queues"].items():
        lines.append(
            f"{name:<16}{q['arrived']:>9}{q['answered']:>10}{q['abandoned']:>11}{q['service_level']:>8.1%}"
            f"{q['callbacks']:>11}{q['transferred']:>9}{q['repeats']:>9}{q['hops']:>6}"
        )
    lines.append(
        f"all: arrived {t['arrived']}, answered {t['answered']}, completed {t['completed']}, abandoned or expired "
        f"{t['abandoned_or_expired']}, still open {t['waiting_or_open']}, SL {t['service_level']:.1%}"
    )
    lines.append(
        f"offers rejected {t['rejected_offers']}, rung out {t['offers_rung_out']}; sentiment updates "
        f"{t['sentiment_updates']}; breaks {t['breaks']}; malformed sent {t['malformed_sent']}, dead letters "
        f"{t['dead_letters']}; decision latency p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms ({lat['count']})"
    )
    return "\n".join(lines)


async def _partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[int]:
    for _ in range(50):
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return sorted(parts)
        with contextlib.suppress(Exception):
            await consumer._client.force_metadata_update()  # noqa: SLF001 - aiokafka has no public refresh
        await asyncio.sleep(0.1)
    raise RuntimeError(f"topic {topic!r} does not exist: run deploy/stack up")
