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
    ContactArrived,
    DecodeError,
    Envelope,
    InputEvent,
    decode_envelope,
    parse_input,
)
from contact_router.sim.arrivals import scenario_arrivals
from contact_router.sim.scenario import AgentGroupSpec, QueueSpec, Scenario

AGENT_EVENTS = {"agent.logged_in", "agent.state_changed", "agent.skills_changed", "agent.logged_out"}


@dataclass(frozen=True)
class Arrival:
    at: float  # seconds from the start
    event: ContactArrived
    handle_seconds: float  # once answered
    patience_seconds: float  # waiting this long, the customer hangs up (inf: never)
    transfer_to: str | None = None  # at the end of handling, transferred to this queue ...
    transfer_skills: dict[str, int] | None = None  # ... with its requirements ...
    transfer_handle_seconds: float = 0.0  # ... and handled there this long
    callback: bool = False  # when patience ends, the customer asks for a callback instead of hanging up


@dataclass
class Workload:
    name: str
    horizon: float  # seconds
    agent_events: list[tuple[float, InputEvent]]
    arrivals: list[Arrival]
    queues: list[str]
    service_level_seconds: float = 20.0
    ring_seconds: float = 3.0  # how long agents take to answer an offer
    answer_share: float = 1.0  # share of offers answered (the rest ring out)
    notes: list[str] = field(default_factory=list)


def from_scenario(scenario: Scenario, rng: random.Random) -> Workload:
    arrivals, horizon = scenario_arrivals(scenario, rng)
    agent_events: list[tuple[float, InputEvent]] = []
    for group in scenario.agents:
        start, end = (group.shift[0] * 3600, group.shift[1] * 3600) if group.shift else (0.0, horizon)
        for i in range(group.count):
            login = _agent(group, i, rng)
            agent_events += [(start, login), (end, AgentLoggedOut(agent_id=login.agent_id))]
    by_name = {q.name: q for q in scenario.queues}
    agent_ids = sorted({e.agent_id for _, e in agent_events if isinstance(e, AgentLoggedIn)})
    contacts = []
    for n, (t, queue) in enumerate(arrivals):
        target = by_name[queue.transfer_to] if queue.transfer_to and rng.random() < queue.transfer_share else None
        preferred = rng.choice(agent_ids) if agent_ids and rng.random() < queue.preferred_agent_share else None
        contacts.append(
            Arrival(
                at=t,
                event=ContactArrived(
                    contact_id=f"c{n}",
                    channel=queue.channel,
                    queue=queue.name,
                    skills=queue.skills,
                    language=queue.language,
                    priority=queue.priority,
                    preferred_agent_id=preferred,
                ),
                handle_seconds=_handle_time(queue, rng),
                patience_seconds=rng.expovariate(1.0 / queue.mean_patience_seconds),
                transfer_to=target.name if target else None,
                transfer_skills=dict(target.skills) if target else None,
                transfer_handle_seconds=_handle_time(target, rng) if target else 0.0,
                callback=rng.random() < queue.callback_share,
            )
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
    )


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
