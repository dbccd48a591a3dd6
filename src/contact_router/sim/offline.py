"""The offline simulator: a discrete-event run of a workload on a virtual clock, no Kafka, no Redis.

It drives the very same core as the workers (core.Engine on a DomainState: routing and early
warnings), so what it measures (service level, ASA, abandonment, skill match, occupancy, and how
early and how right the warnings are) is what production would do with the same arrivals, handle
times and patience. A simulated day takes seconds.
"""

from __future__ import annotations

import heapq
import math
import random
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from contact_router.alerts.outlook import Forecast
from contact_router.contract import (
    AgentLoggedIn,
    AgentLoggedOut,
    AgentState,
    AgentStateChanged,
    ContactAbandoned,
    ContactAccepted,
    ContactAssigned,
    ContactCallbackRequested,
    ContactClosed,
    ContactEnded,
    ContactRejected,
    ContactSentiment,
    ContactTransferred,
    Envelope,
    InputEvent,
    OfferTimedOut,
    TimerFired,
)
from contact_router.contract.events import INPUT_TYPE_NAMES, OUTPUT_TYPE_NAMES, EscalationAlert
from contact_router.core import Engine
from contact_router.routing import DomainState, Rejection
from contact_router.routing.config import RoutingConfig
from contact_router.routing.model import ContactStatus
from contact_router.sim.people import People
from contact_router.sim.scenario import Scenario
from contact_router.sim.workload import Arrival, Workload, dumps, from_scenario

# Virtual time starts on a Monday at midnight UTC (POSIX seconds); only differences matter.
EPOCH = 1_767_571_200.0
# Timers past the end of the workload are only the detectors' ticks and late sweeps: a run stops
# scheduling them this long after its horizon (contacts still ending are played out regardless).
TIMER_GRACE_SECONDS = 2 * 3600.0
PROGRESS_EVERY = 2000  # events between progress reports


@dataclass(frozen=True)
class Wait:
    """One wait of a contact in a queue, as it really ended: the truth early warnings are judged by."""

    contact_id: str
    queue: str
    arrived: float  # simulated seconds
    ended: float
    answered: bool


@dataclass
class QueueStats:
    offered: int = 0
    answered: int = 0
    answered_in_time: int = 0
    abandoned: int = 0
    expired: int = 0  # closed by the sweeper (max wait or max handle time)
    open_at_end: int = 0  # neither answered nor abandoned when the run ended
    transferred: int = 0  # answered here, then transferred to another queue
    callbacks: int = 0  # customers who asked to be called back instead of hanging up
    repeats: int = 0  # arrivals of customers coming back to the same queue
    hops: int = 0  # arrivals of customers coming back through this queue from another one
    rejected_offers: int = 0
    waits: list[float] = field(default_factory=list)
    proficiencies: list[float] = field(default_factory=list)

    @classmethod
    def combined(cls, queues: Iterable[QueueStats]) -> QueueStats:
        total = cls()
        for q in queues:
            total.offered += q.offered
            total.answered += q.answered
            total.answered_in_time += q.answered_in_time
            total.abandoned += q.abandoned
            total.expired += q.expired
            total.open_at_end += q.open_at_end
            total.transferred += q.transferred
            total.callbacks += q.callbacks
            total.repeats += q.repeats
            total.hops += q.hops
            total.rejected_offers += q.rejected_offers
            total.waits += q.waits
            total.proficiencies += q.proficiencies
        return total

    def summary(self, target_seconds: float) -> dict[str, float | int]:
        finished = self.answered + self.abandoned
        return {
            "offered": self.offered,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "expired": self.expired,
            "open_at_end": self.open_at_end,
            "transferred": self.transferred,
            "callbacks": self.callbacks,
            "repeats": self.repeats,
            "hops": self.hops,
            "rejected_offers": self.rejected_offers,
            "transfer_rate": self.transferred / self.answered if self.answered else math.nan,
            f"service_level_{int(target_seconds)}s": self.answered_in_time / finished if finished else math.nan,
            "asa_seconds": statistics.fmean(self.waits) if self.waits else math.nan,
            "abandonment_rate": self.abandoned / finished if finished else math.nan,
            "mean_proficiency": statistics.fmean(self.proficiencies) if self.proficiencies else math.nan,
        }


@dataclass
class AgentStats:
    staffed_seconds: float = 0.0
    busy_seconds: float = 0.0
    handled: int = 0
    logged_in_at: float | None = None
    busy_since: float | None = None
    holding: int = 0
    overtime_from: float | None = None  # logged out while still holding contacts
    on_break: bool = False  # breaks are not staffed time: occupancy is over the time available


@dataclass
class OfflineReport:
    scenario: str
    simulated_hours: float
    queues: dict[str, dict[str, float | int]]
    total: dict[str, float | int]
    occupancy: dict[str, float]
    handled_per_agent: dict[str, float]
    events: int
    agents: dict[str, dict[str, float]] = field(default_factory=dict)  # per agent: occupancy, handled

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "simulated_hours": self.simulated_hours,
            "queues": self.queues,
            "total": self.total,
            "occupancy": self.occupancy,
            "handled_per_agent": self.handled_per_agent,
            "events": self.events,
            "agents": self.agents,
        }

    def render(self) -> str:
        sl_key = next(k for k in self.total if k.startswith("service_level_"))
        header = f"{'queue':<16}{'offered':>9}{'answered':>10}{'abandoned':>11}{'SL':>8}{'ASA s':>8}{'aband.':>8}{'transf.':>8}{'prof.':>7}"
        lines = [f"scenario {self.scenario}: {self.simulated_hours:g} simulated hours, {self.events} events", header]
        for name, q in [*self.queues.items(), ("all", self.total)]:
            lines.append(
                f"{name:<16}{q['offered']:>9}{q['answered']:>10}{q['abandoned']:>11}{q[sl_key]:>8.1%}"
                f"{q['asa_seconds']:>8.1f}{q['abandonment_rate']:>8.1%}{q['transfer_rate']:>8.1%}{q['mean_proficiency']:>7.2f}"
            )
        t = self.total
        lines.append(
            f"callbacks {t['callbacks']}, repeat contacts {t['repeats']}, channel hops {t['hops']}, "
            f"offers rejected {t['rejected_offers']}, expired {t['expired']}, open at the end {t['open_at_end']}"
        )
        o, h = self.occupancy, self.handled_per_agent
        if math.isnan(o["mean"]):
            lines.append("occupancy: not recorded")
        else:
            lines.append(
                f"occupancy: mean {o['mean']:.1%}, min {o['min']:.1%}, max {o['max']:.1%}, stdev {o['stdev']:.1%}; "
                f"contacts per agent: mean {h['mean']:.1f}, min {h['min']:.0f}, max {h['max']:.0f}"
            )
        return "\n".join(lines)


class OfflineSimulator:
    """Runs a workload under a routing config, with simulated agents answering offers."""

    def __init__(
        self,
        workload: Workload,
        routing: RoutingConfig,
        *,
        seed: int = 7,
        record: list[bytes] | None = None,
        domain: str = "offline",
        forecasts: dict[str, Forecast] | None = None,
        early_warnings: bool = True,
    ) -> None:
        self.workload = workload
        self.people = People(workload, random.Random(seed))
        self.engine = Engine(routing, forecasts, early_warnings=early_warnings)
        self.alerts: list[tuple[float, EscalationAlert]] = []  # (simulated time, alert), in order
        self.waits: list[Wait] = []
        self.state = DomainState()
        self.record = record  # when given: every input and decision, as JSONL envelopes
        self.domain = domain
        self._heap: list[tuple[float, int, str, Any]] = []
        self._seq = 0
        self._events = 0
        self._arrival: dict[str, Arrival] = {}
        self._queues: dict[str, QueueStats] = defaultdict(QueueStats)
        self._agents: dict[str, AgentStats] = defaultdict(AgentStats)
        self._proficiency: dict[str, float] = {}  # of the agent a contact was last given to
        self._answered_ids: set[str] = set()
        self._transferred: set[str] = set()
        self._timer_at: float | None = None  # the earliest timer.fired scheduled, as the worker keeps it

    @classmethod
    def from_scenario(cls, scenario: Scenario, *, seed: int = 7, **kwargs: Any) -> OfflineSimulator:
        rng = random.Random(seed)
        return cls(from_scenario(scenario, rng), scenario.routing, seed=seed + 1, **kwargs)

    def _at(self, t: float, kind: str, payload: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, kind, payload))

    def run(self, on_progress: Callable[[float, dict[str, float]], None] | None = None) -> OfflineReport:
        """Play the workload to its end; `on_progress(simulated seconds, live counts)` every
        PROGRESS_EVERY events, for a progress bar."""
        for t, event in self.workload.agent_events:
            self._at(t, "agent", event)
        for arrival in self.workload.arrivals:
            self._at(arrival.at, "arrive", arrival)
        popped = 0
        while self._heap:
            t, _, kind, payload = heapq.heappop(self._heap)
            popped += 1
            if on_progress is not None and popped % PROGRESS_EVERY == 0:
                on_progress(min(t, self.workload.horizon), self.live())
            if kind == "agent":
                self._agent_event(payload, t)
            elif kind == "arrive":
                self._arrive(payload, t)
            elif kind == "patience":
                # The customer hangs up while waiting or while an agent's phone is still ringing, or
                # asks to be called back (keeping their place) if their workload says so.
                contact = self.state.contacts.get(payload)
                if contact is None or contact.callback:
                    pass
                elif (
                    contact.status is ContactStatus.WAITING
                    and self.people.when_patience_ends(self._arrival[payload]) == "callback"
                ):
                    self._apply(ContactCallbackRequested(contact_id=payload), t)
                    self._queues[contact.queue].callbacks += 1
                elif contact.status is ContactStatus.WAITING or contact.offer_pending():
                    self._apply(ContactAbandoned(contact_id=payload), t)
            elif kind == "end":
                self._end(payload, t)
            elif kind in ("answer", "reject"):
                contact_id, agent_id = payload
                contact = self.state.contacts.get(contact_id)
                if contact is None or not contact.offer_pending() or contact.agent_id != agent_id:
                    pass  # the customer hung up while it rang
                elif kind == "answer":
                    self._apply(ContactAccepted(contact_id=contact_id, agent_id=agent_id), t)
                    self._answered(contact_id, t - (contact.arrived_at - EPOCH), t)
                else:
                    self._queues[contact.queue].rejected_offers += 1
                    self._release(agent_id, t)  # the router frees the agent without a decision
                    self._apply(ContactRejected(contact_id=contact_id, agent_id=agent_id), t)
            elif kind == "sentiment":
                contact_id, score = payload
                if contact_id in self.state.contacts:
                    self._apply(ContactSentiment(contact_id=contact_id, score=score), t)
            elif kind == "timer":
                if self._timer_at == t:
                    self._timer_at = None
                self._apply(TimerFired(), t)
        return self._report()

    def live(self) -> dict[str, float]:
        """Counts so far: arrived, answered, abandoned, waiting now, service level so far."""
        total = QueueStats.combined(self._queues.values())
        finished = total.answered + total.abandoned
        return {
            "arrived": total.offered,
            "answered": total.answered,
            "abandoned": total.abandoned,
            "waiting": sum(1 for c in self.state.contacts.values() if c.status is ContactStatus.WAITING),
            "service_level": total.answered_in_time / finished if finished else math.nan,
        }

    def _agent_event(self, event: InputEvent, t: float) -> None:
        if isinstance(event, AgentLoggedIn):
            stats = self._agents[event.agent_id]
            stats.on_break = False
            if stats.logged_in_at is None:
                stats.logged_in_at = t
        elif isinstance(event, AgentStateChanged) and event.agent_id in self.state.agents:
            stats = self._agents[event.agent_id]
            if event.state is AgentState.AWAY and stats.logged_in_at is not None:
                stats.staffed_seconds += t - stats.logged_in_at
                stats.logged_in_at, stats.on_break = None, True
            elif event.state is AgentState.AVAILABLE and stats.on_break:
                stats.logged_in_at, stats.on_break = t, False
        elif isinstance(event, AgentLoggedOut):
            stats = self._agents[event.agent_id]
            if stats.logged_in_at is not None:
                stats.staffed_seconds += t - stats.logged_in_at
                stats.logged_in_at = None
                if stats.holding:
                    stats.overtime_from = t  # contacts in progress still end normally: count that time
        try:
            self._apply(event, t)
        except Rejection:
            pass  # e.g. a recorded state change for an agent who never logged in

    def _arrive(self, arrival: Arrival, t: float) -> None:
        contact_id = arrival.event.contact_id
        if contact_id in self.state.contacts:
            return  # a recording may repeat an arrival (redelivery): it arrived once
        self._arrival[contact_id] = arrival
        stats = self._queues[arrival.event.queue]
        stats.offered += 1
        stats.repeats += arrival.kind == "repeat"
        stats.hops += arrival.kind == "hop"
        if math.isfinite(arrival.patience_seconds):
            self._at(t + arrival.patience_seconds, "patience", contact_id)
        self._apply(arrival.event, t)

    def _apply(self, event: InputEvent, t: float) -> None:
        self._events += 1
        event_id = f"off-{self._events}"
        outcome = self.engine.handle(self.state, event, event_id, EPOCH + t, domain=self.domain)
        decisions = outcome.decisions
        self.state.clear_changes()
        self.alerts += [(t, alert) for alert in outcome.alerts]
        if self.record is not None:
            self._record(event_id, INPUT_TYPE_NAMES[type(event)], event, t)
            for d in decisions:
                self._record(d.decision_id, OUTPUT_TYPE_NAMES[type(d)], d, t)
            for alert in outcome.alerts:
                self._record(f"{alert.alert_id}:{alert.status}", OUTPUT_TYPE_NAMES[EscalationAlert], alert, t)
        for d in decisions:
            if isinstance(d, ContactAssigned):
                self._assigned(d, t)
            elif isinstance(d, ContactClosed):
                self._closed(d, t)
            elif isinstance(d, OfferTimedOut):
                self._release(d.agent_id, t)
        # Deadlines (offer timeouts, wrap-up, relaxation, the sweeper) fire as timer.fired, as in a worker.
        deadline = self.engine.next_deadline(self.state)
        if deadline is not None and deadline - EPOCH > self.workload.horizon + TIMER_GRACE_SECONDS:
            deadline = None
        if deadline is not None and (self._timer_at is None or deadline - EPOCH < self._timer_at):
            self._timer_at = deadline - EPOCH
            self._at(self._timer_at, "timer", None)

    def _record(self, event_id: str, type_: str, payload: Any, t: float) -> None:
        assert self.record is not None
        envelope = Envelope(
            id=event_id,
            type=type_,
            time=datetime.fromtimestamp(EPOCH + t, tz=UTC),
            domain=self.domain,
            source="offline-simulator",
            data=payload.model_dump(mode="json"),
        )
        self.record.append(dumps(envelope))

    def _assigned(self, d: ContactAssigned, t: float) -> None:
        """An offer (answered after a ring, or ringing out) or, without offers, the answer itself."""
        self._proficiency[d.contact_id] = d.score_components["proficiency"]
        agent = self._agents[d.agent_id]
        if agent.holding == 0:
            agent.busy_since = t
        agent.holding += 1
        if not self.state.contacts[d.contact_id].offer_pending():
            self._answered(d.contact_id, d.waited_seconds, t)
            return
        response = self.people.respond(d.offer_timeout_seconds)
        if response.kind != "ring_out":  # a ring-out is the router's offer timeout
            kind = "answer" if response.kind == "accept" else "reject"
            self._at(t + response.after, kind, (d.contact_id, d.agent_id))

    def _end(self, contact_id: str, t: float) -> None:
        """Handling ends: the contact is completed, or transferred once if its workload says so."""
        arrival = self._arrival[contact_id]
        contact = self.state.contacts.get(contact_id)
        if arrival.transfer_to is None or contact_id in self._transferred or contact is None:
            self._apply(ContactEnded(contact_id=contact_id, resolved=arrival.resolved), t)
            return
        self._transferred.add(contact_id)
        self._answered_ids.discard(contact_id)  # to be answered again, in the target queue
        self._queues[contact.queue].transferred += 1
        self._queues[arrival.transfer_to].offered += 1
        agent_id = contact.agent_id
        self._apply(
            ContactTransferred(contact_id=contact_id, to_queue=arrival.transfer_to, skills=arrival.transfer_skills), t
        )
        if agent_id is not None:  # the router releases the agent without a decision: account for it
            self._agents[agent_id].handled += 1
            self._release(agent_id, t)

    def _answered(self, contact_id: str, waited: float, t: float) -> None:
        self._answered_ids.add(contact_id)
        arrival = self._arrival[contact_id]
        queue = self.state.contacts[contact_id].queue
        stats = self._queues[queue]
        stats.answered += 1
        stats.waits.append(waited)
        stats.proficiencies.append(self._proficiency[contact_id])
        if waited <= self.engine.config.policy(queue).service_level_seconds:
            stats.answered_in_time += 1
        self.waits.append(Wait(contact_id, queue, t - waited, t, answered=True))
        agent_id = self.state.contacts[contact_id].agent_id
        agent = self.state.agents.get(agent_id) if agent_id else None
        handle = self.people.handle_seconds(
            arrival, agent.location if agent else None, transferred=contact_id in self._transferred
        )
        for after, score in self.people.sentiment_updates(arrival, waited, handle):
            self._at(t + after, "sentiment", (contact_id, score))
        self._at(t + handle, "end", contact_id)

    def _was_answered(self, contact_id: str) -> bool:
        return contact_id in self._answered_ids

    def _release(self, agent_id: str, t: float) -> None:
        agent = self._agents[agent_id]
        agent.holding -= 1
        if agent.holding == 0 and agent.busy_since is not None:
            agent.busy_seconds += t - agent.busy_since
            agent.busy_since = None
        if agent.holding == 0 and agent.overtime_from is not None:
            agent.staffed_seconds += t - agent.overtime_from
            agent.overtime_from = None

    def _closed(self, d: ContactClosed, t: float) -> None:
        if d.outcome == "expired":
            self._queues[d.queue].expired += 1
        elif d.outcome == "abandoned" and not self._was_answered(d.contact_id):
            self._queues[d.queue].abandoned += 1
        if d.outcome != "completed" and not self._was_answered(d.contact_id):
            self.waits.append(Wait(d.contact_id, d.queue, t - d.waited_seconds, t, answered=False))
        if d.agent_id is not None:
            self._agents[d.agent_id].handled += 1
            self._release(d.agent_id, t)
        if d.outcome != "expired":
            again = self.people.comes_back(self._arrival[d.contact_id], d.outcome, t)
            if again is not None and again.at < self.workload.horizon:
                self._at(again.at, "arrive", again)

    def _report(self) -> OfflineReport:
        target = self.workload.service_level_seconds
        for contact in self.state.contacts.values():
            if contact.contact_id not in self._answered_ids:
                self._queues[contact.queue].open_at_end += 1
        total = QueueStats.combined(self._queues.values())
        for agent in self._agents.values():  # still logged in at the end: staffed until the horizon
            if agent.logged_in_at is not None:
                agent.staffed_seconds += max(self.workload.horizon - agent.logged_in_at, 0.0)
                agent.logged_in_at = None
        staffed = [a for a in self._agents.values() if a.staffed_seconds > 0]
        occupancy = [min(a.busy_seconds / a.staffed_seconds, 1.0) for a in staffed] or [math.nan]
        handled = [float(a.handled) for a in staffed] or [math.nan]
        return OfflineReport(
            scenario=self.workload.name,
            simulated_hours=self.workload.horizon / 3600.0,
            queues={name: self._queues[name].summary(target) for name in self.workload.queues},
            total=total.summary(target),
            occupancy=_spread(occupancy),
            handled_per_agent=_spread(handled),
            events=self._events,
            agents={
                agent_id: {
                    "occupancy": round(min(a.busy_seconds / a.staffed_seconds, 1.0), 4),
                    "handled": a.handled,
                    "staffed_hours": round(a.staffed_seconds / 3600, 3),
                }
                for agent_id, a in sorted(self._agents.items())
                if a.staffed_seconds > 0
            },
        )


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "mean": statistics.fmean(values),
        "min": min(values),
        "max": max(values),
        "stdev": statistics.pstdev(values) if len(values) > 1 else 0.0,
    }


def with_scoring(routing: RoutingConfig, scoring: str) -> RoutingConfig:
    """The routing config with every queue scored by one policy: for side-by-side comparisons."""
    doc = routing.model_dump()
    doc["default"]["scoring"] = scoring
    for queue in doc["queues"].values():
        queue["scoring"] = scoring
    return RoutingConfig.model_validate(doc)


def recorded_report(envelopes: list[Envelope], workload: Workload) -> OfflineReport:
    """What happened in a recording, from its own decisions (contact.closed), for comparison with a
    what-if run of the same workload. Occupancy is not recorded, so it is left out (nan)."""
    stats: dict[str, QueueStats] = defaultdict(QueueStats)
    for arrival in workload.arrivals:
        stats[arrival.event.queue].offered += 1
    seen: set[str] = set()
    for e in envelopes:
        if e.type != "contact.closed" or e.id in seen or not workload.name.endswith(f"({e.domain})"):
            continue
        seen.add(e.id)
        d = e.data
        q = stats[d["queue"]]
        if d["outcome"] == "expired":
            q.expired += 1
        elif d["outcome"] == "abandoned":  # waiting, or while an offer rang
            q.abandoned += 1
        else:
            q.answered += 1
            q.waits.append(d["waited_seconds"])
            if d["waited_seconds"] <= workload.service_level_seconds:
                q.answered_in_time += 1
    total = QueueStats.combined(stats.values())
    target = workload.service_level_seconds
    nan = {"mean": math.nan, "min": math.nan, "max": math.nan, "stdev": math.nan}
    return OfflineReport(
        scenario=f"{workload.name}, as recorded",
        simulated_hours=workload.horizon / 3600.0,
        queues={name: stats[name].summary(target) for name in workload.queues},
        total=total.summary(target),
        occupancy=nan,
        handled_per_agent=nan,
        events=len(envelopes),
    )
