"""What happens in a contact center whatever the routing does: when agents log in, change state and
log out; when contacts arrive, how long each takes once answered and how long its customer waits
before hanging up. A scenario samples a workload; a recording of a real stream yields one, so a
recorded day can be re-run under another routing policy (a what-if)."""

from __future__ import annotations

import math
import random
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from contact_router.contract import (
    AgentLoggedIn,
    AgentLoggedOut,
    AgentState,
    AgentStateChanged,
    ContactArrived,
    DecodeError,
    Envelope,
    InputEvent,
    decode_envelope,
    parse_input,
)
from contact_router.sim.arrivals import scenario_arrivals
from contact_router.sim.scenario import AgentGroupSpec, QueueSpec, Scenario, TimelineEntry

AGENT_EVENTS = {"agent.logged_in", "agent.state_changed", "agent.skills_changed", "agent.logged_out"}


@dataclass(frozen=True)
class Mood:
    """A customer's sentiment while handled: `start` lowered by the wait, then a straight drift."""

    start: float
    drift_per_minute: float
    wait_penalty_per_minute: float
    every_seconds: float


@dataclass(frozen=True)
class Arrival:
    at: float  # seconds from the start (a comeback's: from when its customer decided to come back)
    event: ContactArrived
    handle_seconds: float  # once answered, by an agent in the office
    patience_seconds: float  # waiting this long, the customer hangs up (inf: never)
    transfer_to: str | None = None  # at the end of handling, transferred to this queue ...
    transfer_skills: dict[str, int] | None = None  # ... with its requirements ...
    transfer_handle_seconds: float = 0.0  # ... and handled there this long
    callback: bool = False  # when patience ends, the customer asks for a callback instead of hanging up
    home_handle_factor: float = 1.0  # handle time of an agent at home, relative to the office
    resolved: bool = True  # how handling ends
    mood: Mood | None = None  # sentiment updates while handled
    comeback: Comeback | None = None  # if left unresolved or after hanging up, the customer returns
    kind: str = "first"  # or "repeat" (same queue) or "hop" (another queue, often another channel)


@dataclass(frozen=True)
class Comeback:
    after_seconds: float
    arrival: Arrival


@dataclass
class Workload:
    name: str
    horizon: float  # seconds
    agent_events: list[tuple[float, InputEvent]]
    arrivals: list[Arrival]
    queues: list[str]
    service_level_seconds: float = 20.0
    ring_seconds: float = 3.0  # how long agents take to answer an offer
    answer_share: float = 1.0  # share of offers answered
    reject_share: float = 0.0  # share of offers rejected (the rest ring out)
    notes: list[str] = field(default_factory=list)


def from_scenario(scenario: Scenario, rng: random.Random) -> Workload:
    """Sample what happens: agents' shifts, breaks and outages, and every customer's fate."""
    arrivals, horizon = scenario_arrivals(scenario, rng)
    agent_events: list[tuple[float, InputEvent]] = []
    for group in scenario.agents:
        for i in range(group.count):
            login = _agent(group, i, rng)
            for start, end in _on_duty(group, scenario.timeline, horizon):
                agent_events += [(start, login), *_breaks(group, login.agent_id, start, end, rng)]
                agent_events.append((end, AgentLoggedOut(agent_id=login.agent_id)))
    agent_events.sort(key=lambda item: item[0])  # stable: a login stays before its breaks
    by_name = {q.name: q for q in scenario.queues}
    agent_ids = sorted({e.agent_id for _, e in agent_events if isinstance(e, AgentLoggedIn)})
    contacts = []
    for n, (t, queue) in enumerate(arrivals):
        target = by_name[queue.transfer_to] if queue.transfer_to and rng.random() < queue.transfer_share else None
        preferred = rng.choice(agent_ids) if agent_ids and rng.random() < queue.preferred_agent_share else None
        contacts.append(
            _customer(f"c{n}", f"k{n}", t, queue, by_name, rng, transfer_to=target, preferred_agent_id=preferred)
        )
    return Workload(
        name=scenario.name,
        horizon=horizon,
        agent_events=agent_events,
        arrivals=contacts,
        queues=[q.name for q in scenario.queues],
        service_level_seconds=scenario.routing.default.service_level_seconds,
        ring_seconds=scenario.ring_seconds,
        answer_share=scenario.answer_share,
        reject_share=scenario.reject_share,
    )


MAX_COMEBACKS = 2  # a customer comes back at most this many times


def _customer(
    contact_id: str,
    customer_ref: str,
    t: float,
    queue: QueueSpec,
    queues: dict[str, QueueSpec],
    rng: random.Random,
    *,
    transfer_to: QueueSpec | None = None,
    preferred_agent_id: str | None = None,
    kind: str = "first",
    depth: int = 0,
) -> Arrival:
    """One contact and its customer's fate. Draws for features a queue does not use are skipped,
    so scenarios without them sample the same days as before they existed."""
    comeback = None
    if depth < MAX_COMEBACKS and queue.repeat_share and rng.random() < queue.repeat_share:
        hop = queue.hop_to is not None and rng.random() < queue.hop_share
        again = queues[queue.hop_to] if hop and queue.hop_to else queue
        after = rng.expovariate(1.0 / queue.mean_repeat_after_seconds)
        comeback = Comeback(
            after,
            _customer(f"{contact_id}r", customer_ref, 0.0, again, queues, rng, kind="hop" if hop else "repeat",
                      depth=depth + 1),
        )
    mood = None
    if queue.sentiment is not None:
        spec = queue.sentiment
        mood = Mood(
            start=rng.gauss(spec.start, spec.start_spread),
            drift_per_minute=rng.gauss(spec.drift_per_minute, spec.drift_spread),
            wait_penalty_per_minute=spec.wait_penalty_per_minute,
            every_seconds=spec.every_seconds,
        )
    return Arrival(
        at=t,
        event=ContactArrived(
            contact_id=contact_id,
            channel=queue.channel,
            queue=queue.name,
            skills=queue.skills,
            language=queue.language,
            priority=queue.priority,
            customer_ref=customer_ref,
            preferred_agent_id=preferred_agent_id,
        ),
        handle_seconds=_handle_time(queue, rng),
        patience_seconds=rng.expovariate(1.0 / queue.mean_patience_seconds),
        transfer_to=transfer_to.name if transfer_to else None,
        transfer_skills=dict(transfer_to.skills) if transfer_to else None,
        transfer_handle_seconds=_handle_time(transfer_to, rng) if transfer_to else 0.0,
        callback=rng.random() < queue.callback_share,
        home_handle_factor=queue.home_handle_factor,
        resolved=queue.resolved_share >= 1 or rng.random() < queue.resolved_share,
        mood=mood,
        comeback=comeback,
        kind=kind,
    )


def _on_duty(group: AgentGroupSpec, timeline: list[TimelineEntry], horizon: float) -> list[tuple[float, float]]:
    """The spans a group's agents are logged in: their shift, cut by outages of one of their skills."""
    start, end = (group.shift[0] * 3600, group.shift[1] * 3600) if group.shift else (0.0, horizon)
    spans, present, since = [], True, start
    for entry in sorted((e for e in timeline if e.skill in group.skills), key=lambda e: e.at_hours):
        at = min(max(entry.at_hours * 3600, start), end)
        if entry.action == "log_out" and present:
            spans.append((since, at))
            present = False
        elif entry.action == "log_in" and not present:
            present, since = True, at
    if present:
        spans.append((since, end))
    return [(a, b) for a, b in spans if b > a]


def _breaks(
    group: AgentGroupSpec, agent_id: str, start: float, end: float, rng: random.Random
) -> list[tuple[float, InputEvent]]:
    """Breaks within one span on duty, each over before the span ends (an agent logged out is
    never put back to available by a break ending)."""
    if group.breaks is None:
        return []
    every, length = group.breaks.mean_every_minutes * 60, group.breaks.mean_minutes * 60
    events: list[tuple[float, InputEvent]] = []
    t = start + rng.expovariate(1.0 / every)
    while True:
        back = t + rng.expovariate(1.0 / length)
        if back >= end:
            return events
        events.append((t, AgentStateChanged(agent_id=agent_id, state=AgentState.AWAY, reason="break")))
        events.append((back, AgentStateChanged(agent_id=agent_id, state=AgentState.AVAILABLE)))
        t = back + rng.expovariate(1.0 / every)


def _agent(group: AgentGroupSpec, i: int, rng: random.Random) -> AgentLoggedIn:
    return AgentLoggedIn(
        agent_id=f"{group.name}-{i:04d}",
        skills={skill: rng.randint(lo, hi) for skill, (lo, hi) in group.skills.items()},
        capacity=group.capacity,
        languages=group.languages,
        location="home" if rng.random() < group.home_share else "office",
    )


def _handle_time(queue: QueueSpec, rng: random.Random) -> float:
    if queue.handle_distribution == "exponential":
        return rng.expovariate(1.0 / queue.mean_handle_seconds)
    mu = math.log(queue.mean_handle_seconds) - queue.handle_sigma**2 / 2  # lognormal with that mean
    return rng.lognormvariate(mu, queue.handle_sigma)


def read_recording(lines: Iterable[bytes | str]) -> list[Envelope]:
    """Envelopes from JSONL (e.g. kcat dumps of the input topics and routing-decisions, concatenated),
    in event-time order; lines that are not envelopes are skipped and counted by the caller."""
    envelopes = []
    for line in lines:
        raw = line.encode() if isinstance(line, str) else line
        if not raw.strip():
            continue
        try:
            envelopes.append(decode_envelope(raw.strip()))
        except DecodeError:
            continue
    envelopes.sort(key=lambda e: e.timestamp)
    return envelopes


def from_recording(envelopes: list[Envelope], *, name: str = "recording", domain: str | None = None) -> Workload:
    """The facts of a recorded stream: agent events as they happened; for each contact its arrival,
    its handle time (end minus answer: acceptance, else its last assignment) and, if its customer hung
    up while waiting, its patience. Contacts whose handle time is unknown (abandoned, or still open
    at the end) take their queue's mean recorded handle time; served customers never abandon."""
    domains = {e.domain for e in envelopes if e.type == "contact.arrived"}
    if domain is None:
        if len(domains) > 1:
            raise ValueError(f"the recording holds several domains ({sorted(domains)}): name one")
        domain = next(iter(domains), None)
    mine = [e for e in envelopes if e.domain == domain]
    if not mine:
        raise ValueError("the recording holds no events of that domain")
    t0 = mine[0].timestamp
    agent_events: list[tuple[float, InputEvent]] = []
    arrived: dict[str, tuple[float, ContactArrived]] = {}
    answered_at: dict[str, float] = {}  # acceptances
    assigned_at: dict[str, float] = {}  # the last assignment of each contact
    ended_at: dict[str, float] = {}
    abandoned_at: dict[str, float] = {}
    for e in mine:
        t = e.timestamp - t0
        if e.type in AGENT_EVENTS:
            agent_events.append((t, parse_input(e)))
        elif e.type == "contact.arrived":
            event = parse_input(e)
            assert isinstance(event, ContactArrived)
            arrived.setdefault(event.contact_id, (t, event))
        elif e.type == "contact.accepted":
            answered_at[e.data["contact_id"]] = t
        elif e.type == "contact.assigned":
            # An assignment's time is its trigger's event time; without offers it is the answer.
            assigned_at[e.data["contact_id"]] = t
        elif e.type == "contact.ended":
            ended_at.setdefault(e.data["contact_id"], t)
        elif e.type == "contact.abandoned":
            abandoned_at.setdefault(e.data["contact_id"], t)

    handles: dict[str, list[float]] = defaultdict(list)
    known: dict[str, float] = {}
    for cid, (_, event) in arrived.items():
        start = answered_at.get(cid, assigned_at.get(cid))
        if start is not None and cid in ended_at and ended_at[cid] >= start:
            known[cid] = ended_at[cid] - start
            handles[event.queue].append(known[cid])
    overall = [h for hs in handles.values() for h in hs]
    fallback = statistics.fmean(overall) if overall else 180.0
    arrivals = []
    for cid, (t, event) in arrived.items():
        handle = known.get(cid)
        if handle is None:
            handle = statistics.fmean(handles[event.queue]) if handles[event.queue] else fallback
        patience = abandoned_at[cid] - t if cid in abandoned_at and cid not in known else math.inf
        arrivals.append(Arrival(at=t, event=event, handle_seconds=handle, patience_seconds=patience))
    arrivals.sort(key=lambda a: a.at)
    horizon = mine[-1].timestamp - t0
    return Workload(
        name=f"{name} ({domain})",
        horizon=horizon,
        agent_events=agent_events,
        arrivals=arrivals,
        queues=sorted({a.event.queue for a in arrivals}),
        answer_share=1.0,
        notes=[f"{len(arrivals) - len(known)} of {len(arrivals)} contacts had no recorded handle time"],
    )


def dumps(envelope: Envelope) -> bytes:
    return orjson.dumps(envelope.model_dump(mode="json")) + b"\n"
