"""The offline simulator: a discrete-event run of a scenario on a virtual clock, no Kafka, no Redis.

It drives the very same routing core as the workers (Router on a DomainState), so what it measures
(service level, ASA, abandonment, skill match, occupancy) is what production routing would do with
the same arrivals, handle times and patience. A simulated day takes seconds.
"""

from __future__ import annotations

import heapq
import math
import random
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from contact_router.contract import (
    AgentLoggedIn,
    AgentLoggedOut,
    ContactAbandoned,
    ContactAccepted,
    ContactArrived,
    ContactAssigned,
    ContactClosed,
    ContactEnded,
    InputEvent,
    OfferTimedOut,
    TimerFired,
)
from contact_router.routing import DomainState, Router
from contact_router.routing.config import RoutingConfig
from contact_router.routing.model import ContactStatus
from contact_router.sim.arrivals import scenario_arrivals
from contact_router.sim.scenario import AgentGroupSpec, QueueSpec, Scenario

# Virtual time starts on a Monday at midnight UTC (POSIX seconds); only differences matter.
EPOCH = 1_767_571_200.0


@dataclass
class QueueStats:
    offered: int = 0
    answered: int = 0
    answered_in_time: int = 0
    abandoned: int = 0
    expired: int = 0  # closed by the sweeper (max wait or max handle time)
    waits: list[float] = field(default_factory=list)
    proficiencies: list[float] = field(default_factory=list)

    def summary(self, target_seconds: float) -> dict[str, float | int]:
        finished = self.answered + self.abandoned
        return {
            "offered": self.offered,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "expired": self.expired,
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


@dataclass
class OfflineReport:
    scenario: str
    simulated_hours: float
    queues: dict[str, dict[str, float | int]]
    total: dict[str, float | int]
    occupancy: dict[str, float]
    handled_per_agent: dict[str, float]
    events: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "simulated_hours": self.simulated_hours,
            "queues": self.queues,
            "total": self.total,
            "occupancy": self.occupancy,
            "handled_per_agent": self.handled_per_agent,
            "events": self.events,
        }

    def render(self) -> str:
        sl_key = next(k for k in self.total if k.startswith("service_level_"))
        header = f"{'queue':<16}{'offered':>9}{'answered':>10}{'abandoned':>11}{'SL':>8}{'ASA s':>8}{'aband.':>8}{'prof.':>7}"
        lines = [f"scenario {self.scenario}: {self.simulated_hours:g} simulated hours, {self.events} events", header]
        for name, q in [*self.queues.items(), ("all", self.total)]:
            lines.append(
                f"{name:<16}{q['offered']:>9}{q['answered']:>10}{q['abandoned']:>11}{q[sl_key]:>8.1%}"
                f"{q['asa_seconds']:>8.1f}{q['abandonment_rate']:>8.1%}{q['mean_proficiency']:>7.2f}"
            )
        o, h = self.occupancy, self.handled_per_agent
        lines.append(
            f"occupancy: mean {o['mean']:.1%}, min {o['min']:.1%}, max {o['max']:.1%}, stdev {o['stdev']:.1%}; "
            f"contacts per agent: mean {h['mean']:.1f}, min {h['min']:.0f}, max {h['max']:.0f}"
        )
        return "\n".join(lines)


class OfflineSimulator:
    def __init__(self, scenario: Scenario, *, seed: int = 7, router: Router | None = None) -> None:
        self.scenario = scenario
        self.rng = random.Random(seed)
        self.router = router or Router(scenario.routing)
        self.state = DomainState()
        self._heap: list[tuple[float, int, str, Any]] = []
        self._seq = 0
        self._events = 0
        self._queue_of: dict[str, QueueSpec] = {}
        self._queues: dict[str, QueueStats] = defaultdict(QueueStats)
        self._agents: dict[str, AgentStats] = defaultdict(AgentStats)
        self._proficiency: dict[str, float] = {}  # of the agent a contact was last given to
        self._timer_at: float | None = None  # the earliest timer.fired scheduled, as the worker keeps it

    def _at(self, t: float, kind: str, payload: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, kind, payload))

    def run(self) -> OfflineReport:
        arrivals, horizon = scenario_arrivals(self.scenario, self.rng)
        for group in self.scenario.agents:
            start, end = (group.shift[0] * 3600, group.shift[1] * 3600) if group.shift else (0.0, horizon)
            for i in range(group.count):
                agent = self._agent(group, i)
                self._at(start, "login", agent)
                self._at(end, "logout", agent.agent_id)
        for n, (t, queue) in enumerate(arrivals):
            self._at(t, "arrive", (f"c{n}", queue))

        while self._heap:
            t, _, kind, payload = heapq.heappop(self._heap)
            if kind == "login":
                self._agents[payload.agent_id].logged_in_at = t
                self._apply(payload, t)
            elif kind == "logout":
                self._log_out(payload, t)
            elif kind == "arrive":
                self._arrive(*payload, t)
            elif kind == "patience":
                contact = self.state.contacts.get(payload)
                if contact is not None and contact.status is ContactStatus.WAITING:
                    self._apply(ContactAbandoned(contact_id=payload), t)
            elif kind == "end":
                self._apply(ContactEnded(contact_id=payload, resolved=True), t)
            elif kind == "answer":
                contact_id, agent_id = payload
                contact = self.state.contacts.get(contact_id)
                if contact is not None and contact.offer_pending() and contact.agent_id == agent_id:
                    self._apply(ContactAccepted(contact_id=contact_id, agent_id=agent_id), t)
                    self._answered(contact_id, t - (contact.arrived_at - EPOCH), t)
            elif kind == "timer":
                if self._timer_at == t:
                    self._timer_at = None
                self._apply(TimerFired(), t)
        return self._report(horizon)

    def _agent(self, group: AgentGroupSpec, i: int) -> AgentLoggedIn:
        return AgentLoggedIn(
            agent_id=f"{group.name}-{i:04d}",
            skills={skill: self.rng.randint(lo, hi) for skill, (lo, hi) in group.skills.items()},
            capacity=group.capacity,
            languages=group.languages,
            location="home" if self.rng.random() < group.home_share else "office",
        )

    def _arrive(self, contact_id: str, queue: QueueSpec, t: float) -> None:
        self._queue_of[contact_id] = queue
        self._queues[queue.name].offered += 1
        self._at(t + self.rng.expovariate(1.0 / queue.mean_patience_seconds), "patience", contact_id)
        self._apply(
            ContactArrived(
                contact_id=contact_id,
                channel=queue.channel,
                queue=queue.name,
                skills=queue.skills,
                language=queue.language,
                priority=queue.priority,
            ),
            t,
        )

    def _log_out(self, agent_id: str, t: float) -> None:
        stats = self._agents[agent_id]
        if stats.logged_in_at is not None:
            stats.staffed_seconds += t - stats.logged_in_at
            stats.logged_in_at = None
            if stats.holding:
                stats.overtime_from = t  # contacts in progress still end normally: count that time
        self._apply(AgentLoggedOut(agent_id=agent_id), t)

    def _apply(self, event: InputEvent, t: float) -> None:
        self._events += 1
        decisions = self.router.handle(self.state, event, f"off-{self._events}", EPOCH + t)
        self.state.clear_changes()
        for d in decisions:
            if isinstance(d, ContactAssigned):
                self._assigned(d, t)
            elif isinstance(d, ContactClosed):
                self._closed(d, t)
            elif isinstance(d, OfferTimedOut):
                self._release(d.agent_id, t)
        # Deadlines (offer timeouts, wrap-up, relaxation, the sweeper) fire as timer.fired, as in a worker.
        deadline = self.router.next_deadline(self.state)
        if deadline is not None and (self._timer_at is None or deadline - EPOCH < self._timer_at):
            self._timer_at = deadline - EPOCH
            self._at(self._timer_at, "timer", None)

    def _assigned(self, d: ContactAssigned, t: float) -> None:
        """An offer (answered after a ring, or ringing out) or, without offers, the answer itself."""
        self._proficiency[d.contact_id] = d.score_components["proficiency"]
        agent = self._agents[d.agent_id]
        if agent.holding == 0:
            agent.busy_since = t
        agent.holding += 1
        if not self.state.contacts[d.contact_id].offer_pending():
            self._answered(d.contact_id, d.waited_seconds, t)
        elif self.rng.random() < self.scenario.answer_share:
            ring = self.rng.expovariate(1.0 / self.scenario.ring_seconds) if self.scenario.ring_seconds else 0.0
            self._at(t + ring, "answer", (d.contact_id, d.agent_id))

    def _answered(self, contact_id: str, waited: float, t: float) -> None:
        queue = self._queue_of[contact_id]
        stats = self._queues[queue.name]
        stats.answered += 1
        stats.waits.append(waited)
        stats.proficiencies.append(self._proficiency[contact_id])
        if waited <= self.scenario.service_level_seconds:
            stats.answered_in_time += 1
        self._at(t + self._handle_time(queue), "end", contact_id)

    def _release(self, agent_id: str, t: float) -> None:
        agent = self._agents[agent_id]
        agent.holding -= 1
        if agent.holding == 0 and agent.busy_since is not None:
            agent.busy_seconds += t - agent.busy_since
            agent.busy_since = None
        if agent.holding == 0 and agent.overtime_from is not None:
            agent.staffed_seconds += t - agent.overtime_from
            agent.overtime_from = None

    def _handle_time(self, queue: QueueSpec) -> float:
        if queue.handle_distribution == "exponential":
            return self.rng.expovariate(1.0 / queue.mean_handle_seconds)
        mu = math.log(queue.mean_handle_seconds) - queue.handle_sigma**2 / 2  # lognormal with that mean
        return self.rng.lognormvariate(mu, queue.handle_sigma)

    def _closed(self, d: ContactClosed, t: float) -> None:
        if d.outcome == "expired":
            self._queues[d.queue].expired += 1
        elif d.outcome == "abandoned" and d.agent_id is None:
            self._queues[d.queue].abandoned += 1
        if d.agent_id is not None:
            self._agents[d.agent_id].handled += 1
            self._release(d.agent_id, t)

    def _report(self, horizon: float) -> OfflineReport:
        target = self.scenario.service_level_seconds
        total = QueueStats()
        for q in self._queues.values():
            total.offered += q.offered
            total.answered += q.answered
            total.answered_in_time += q.answered_in_time
            total.abandoned += q.abandoned
            total.expired += q.expired
            total.waits += q.waits
            total.proficiencies += q.proficiencies
        staffed = [a for a in self._agents.values() if a.staffed_seconds > 0]
        occupancy = [a.busy_seconds / a.staffed_seconds for a in staffed] or [math.nan]
        handled = [float(a.handled) for a in staffed] or [math.nan]
        return OfflineReport(
            scenario=self.scenario.name,
            simulated_hours=horizon / 3600.0,
            queues={q.name: self._queues[q.name].summary(target) for q in self.scenario.queues},
            total=total.summary(target),
            occupancy=_spread(occupancy),
            handled_per_agent=_spread(handled),
            events=self._events,
        )


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "mean": statistics.fmean(values),
        "min": min(values),
        "max": max(values),
        "stdev": statistics.pstdev(values) if len(values) > 1 else 0.0,
    }


def with_policy(scenario: Scenario, scoring: str) -> Scenario:
    """The scenario with every queue scored by one policy: for side-by-side comparisons."""
    routing = scenario.routing
    queues = {name: q.model_copy(update={"scoring": scoring}) for name, q in routing.queues.items()}
    changed = routing.model_copy(update={"default": routing.default.model_copy(update={"scoring": scoring}), "queues": queues})
    return scenario.model_copy(update={"routing": RoutingConfig.model_validate(changed.model_dump())})
