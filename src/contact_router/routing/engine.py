"""The routing decision: an input event applied to a domain's state gives the decisions it causes.

Pure and deterministic: the same state and event always give the same decisions with the same ids,
which is what makes replays effectively-once.
"""

from __future__ import annotations

import math

from contact_router.contract import (
    AgentLoggedIn,
    AgentLoggedOut,
    AgentPaused,
    AgentSkillsChanged,
    AgentState,
    AgentStateChanged,
    ContactAbandoned,
    ContactAccepted,
    ContactArrived,
    ContactAssigned,
    ContactCallbackRequested,
    ContactClosed,
    ContactEnded,
    ContactHeld,
    ContactNotAnswered,
    ContactQueued,
    ContactRejected,
    ContactResumed,
    ContactSentiment,
    ContactTransferred,
    InputEvent,
    OfferTimedOut,
    TimerFired,
)
from contact_router.routing.config import RoutingConfig
from contact_router.routing.matching import best_contact, can_serve
from contact_router.routing.model import DUE_TOLERANCE_SECONDS, Agent, Contact, ContactStatus, DomainState
from contact_router.routing.relaxation import next_step_at, relax, step_reached
from contact_router.routing.scoring import Match, best_agent, components, score

Decision = ContactAssigned | ContactQueued | ContactClosed | OfferTimedOut | AgentPaused


class Rejection(Exception):
    """A well-formed event that does not apply to the current state; the state is left unchanged."""

    def __init__(self, reason: str, kind: str = "rejected") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind  # bounded, for the dead-letter metric's reason label


class Router:
    """Applies one input event at a time to a DomainState (mutating it) and returns the decisions."""

    def __init__(self, config: RoutingConfig | None = None) -> None:
        self.config = config or RoutingConfig()

    def handle(self, state: DomainState, event: InputEvent, event_id: str, now: float) -> list[Decision]:
        run = _Run(state, event_id, now, self.config)
        match event:
            case ContactArrived():
                run.contact_arrived(event)
            case ContactEnded():
                run.contact_finished(event.contact_id, "completed")
            case ContactAbandoned():
                run.contact_finished(event.contact_id, "abandoned")
            case AgentLoggedIn():
                run.agent_logged_in(event)
            case AgentStateChanged():
                run.agent_state_changed(event.agent_id, event.state, event.reason)
            case AgentLoggedOut():
                run.agent_state_changed(event.agent_id, AgentState.OFFLINE)
            case AgentSkillsChanged():
                run.agent_skills_changed(event)
            case ContactAccepted():
                run.contact_accepted(event)
            case ContactRejected():
                run.offer_declined(event.contact_id, event.agent_id, missed=False, timed_out=False)
            case ContactNotAnswered():
                run.offer_declined(event.contact_id, event.agent_id, missed=True, timed_out=False)
            case TimerFired():
                run.deadlines_reached()
            case ContactCallbackRequested():
                run.callback_requested(event.contact_id)
            case ContactTransferred():
                run.contact_transferred(event)
            case ContactHeld():
                run.contact_held(event.contact_id, on_hold=True)
            case ContactResumed():
                run.contact_held(event.contact_id, on_hold=False)
            case ContactSentiment():
                run.contact_sentiment(event.contact_id, event.score)
            case _:
                raise Rejection(f"{type(event).__name__} is not handled by this version of the router")
        return run.decisions

    def next_deadline(self, state: DomainState) -> float | None:
        """When the domain next needs a timer.fired: an offer expiring, a wrap-up ending, or a contact
        reaching its queue's maximum handle or wait time."""
        found = min((self.contact_deadline(c) for c in state.contacts.values()), default=math.inf)
        found = min(found, wrap_up_deadline(state))
        return None if found == math.inf else found

    def contact_deadline(self, contact: Contact) -> float:
        """The contact's own next deadline (inf: none): its offer expiring, its queue's maximum
        handle or wait time, its next relaxation step, or the end of its wait for a preferred
        agent. It depends on the contact alone, so core.Engine keeps it until the contact changes."""
        policy = self.config.policy(contact.queue)
        if contact.status is ContactStatus.WAITING:
            found = contact.arrived_at + policy.max_wait_seconds if policy.max_wait_seconds else math.inf
            step_at = next_step_at(contact, policy)
            if step_at is not None:
                found = min(found, step_at)
            if contact.preferred_until is not None:
                found = min(found, contact.preferred_until)
            return found
        if contact.offer_pending() and contact.offer_expires_at is not None:
            return contact.offer_expires_at
        if contact.assigned_at is not None and policy.max_handle_seconds:
            return contact.assigned_at + policy.max_handle_seconds
        return math.inf


def wrap_up_deadline(state: DomainState) -> float:
    """When the first wrap-up in progress ends (inf: none)."""
    return min((a.wrap_up_until for a in state.agents.values() if a.wrap_up_until is not None), default=math.inf)


class _Run:
    """One event's application: collects decisions with ids derived from the triggering event."""

    def __init__(self, state: DomainState, event_id: str, now: float, config: RoutingConfig) -> None:
        self.state = state
        self.event_id = event_id
        self.now = now
        self.due_by = now + DUE_TOLERANCE_SECONDS  # deadlines up to this are reached
        self.config = config
        self._window = config.occupancy_window_seconds
        self.decisions: list[Decision] = []

    def _next_id(self) -> str:
        return f"{self.event_id}:{len(self.decisions)}"

    def contact_arrived(self, event: ContactArrived) -> None:
        if event.contact_id in self.state.contacts:
            raise Rejection("contact already waiting or in progress")
        contact = Contact(
            contact_id=event.contact_id,
            channel=event.channel,
            queue=event.queue,
            skills=dict(event.skills),
            arrived_at=self.now,
            language=event.language,
            priority=event.priority,
            customer_ref=event.customer_ref,
        )
        self._prefer(contact, event.preferred_agent_id)
        self.state.touch_contact(contact)
        self._route(contact)

    def _prefer(self, contact: Contact, agent_id: str | None) -> None:
        """Wait a bounded time for a preferred agent, if that agent is logged in at all."""
        preferred = self.state.agents.get(agent_id) if agent_id else None
        window = self.config.policy(contact.queue).preferred_agent_seconds
        contact.preferred_agent_id = agent_id
        contact.preferred_until = (
            self.now + window if preferred is not None and preferred.state is not AgentState.OFFLINE and window else None
        )

    def _route(self, contact: Contact, *, announce_wait: bool = True) -> None:
        """Offer a waiting contact to the best agent free now, or say it waits and why."""
        match = best_agent(
            self.state.agents.values(),
            contact,
            self.config.policy(contact.queue),
            self.now,
            self._window,
            self.config.channel_blocks,
        )
        if match is not None:
            self._assign(contact, match)
            return
        if not announce_wait:
            return
        eligible = any(
            a.state is not AgentState.OFFLINE and can_serve(a, contact) for a in self.state.agents.values()
        )
        self.decisions.append(
            ContactQueued(
                decision_id=self._next_id(),
                contact_id=contact.contact_id,
                queue=contact.queue,
                channel=contact.channel,
                position=self._queue_position(contact),
                reason="no_free_agent" if eligible else "no_eligible_agent",
                trigger_event_id=self.event_id,
            )
        )

    def contact_finished(self, contact_id: str, outcome: str) -> None:
        contact = self.state.contacts.get(contact_id)
        if contact is None:
            raise Rejection("unknown contact (never arrived, or already finished)")
        agent = self.state.agents.get(contact.agent_id) if contact.agent_id else None
        self.state.remove_contact(contact_id)
        waited = (contact.assigned_at or self.now) - contact.arrived_at
        handled = self.now - contact.assigned_at if contact.assigned_at is not None else None
        self.decisions.append(
            ContactClosed(
                decision_id=self._next_id(),
                contact_id=contact_id,
                queue=contact.queue,
                channel=contact.channel,
                outcome=outcome,  # type: ignore[arg-type]
                agent_id=contact.agent_id,
                waited_seconds=max(waited, 0.0),
                handled_seconds=None if handled is None else max(handled, 0.0),
                trigger_event_id=self.event_id,
            )
        )
        if agent is not None:
            self._release(agent, contact, completed=outcome == "completed")
            self._serve_waiting(agent)

    def _release(self, agent: Agent, contact: Contact, *, completed: bool) -> None:
        """The agent stops holding the contact; completed work starts the queue's wrap-up."""
        agent.settle_occupancy(self.now, self._window)
        agent.active.pop(contact.contact_id, None)
        if not agent.active:
            agent.idle_since = self.now
        wrap_up = self.config.policy(contact.queue).wrap_up_seconds
        if completed and wrap_up > 0 and agent.state is AgentState.AVAILABLE:
            agent.state = AgentState.WRAP_UP
            agent.wrap_up_until = self.now + wrap_up
        self.state.touch_agent(agent)

    def agent_logged_in(self, event: AgentLoggedIn) -> None:
        known = self.state.agents.get(event.agent_id)
        agent = Agent(
            agent_id=event.agent_id,
            skills=dict(event.skills),
            capacity=dict(event.capacity),
            languages=list(event.languages),
            location=event.location,
            state=event.state,
            # A repeated login (e.g. after a platform restart) keeps the contacts in progress.
            active=known.active if known else {},
            idle_since=known.idle_since if known and known.active else self.now,
        )
        self.state.touch_agent(agent)
        self._serve_waiting(agent)

    def agent_state_changed(self, agent_id: str, new_state: AgentState, reason: str | None = None) -> None:
        agent = self.state.agents.get(agent_id)
        if agent is None:
            raise Rejection("unknown agent (not logged in)")
        if new_state is AgentState.AVAILABLE and agent.state is not AgentState.AVAILABLE and not agent.active:
            agent.idle_since = self.now
        if new_state is AgentState.AVAILABLE:
            agent.missed_offers = 0
        agent.state = new_state
        agent.reason = reason
        agent.wrap_up_until = None  # reported states replace a timed wrap-up (e.g. ready early)
        self.state.touch_agent(agent)
        self._serve_waiting(agent)

    def agent_skills_changed(self, event: AgentSkillsChanged) -> None:
        agent = self.state.agents.get(event.agent_id)
        if agent is None:
            raise Rejection("unknown agent (not logged in)")
        agent.skills = dict(event.skills)
        if event.languages is not None:
            agent.languages = list(event.languages)
        self.state.touch_agent(agent)
        self._serve_waiting(agent)  # new skills may fit contacts that were waiting

    def contact_accepted(self, event: ContactAccepted) -> None:
        contact = self._offered_to(event.contact_id, event.agent_id)
        contact.accepted = True
        contact.offer_expires_at = None
        agent = self.state.agents[event.agent_id]
        agent.missed_offers = 0
        self.state.touch_contact(contact)
        self.state.touch_agent(agent)

    def offer_declined(
        self, contact_id: str, agent_id: str, *, missed: bool, timed_out: bool, reroute: bool = True
    ) -> None:
        """The offer ends unanswered: the contact goes back to its place (its arrival time is kept),
        this agent is skipped for it, and a missed offer counts towards pausing the agent."""
        contact = self._offered_to(contact_id, agent_id)
        if contact.accepted:
            raise Rejection("the offer was already accepted")
        agent = self.state.agents[agent_id]
        agent.settle_occupancy(self.now, self._window)
        agent.active.pop(contact_id, None)
        contact.status = ContactStatus.WAITING
        contact.agent_id = None
        contact.assigned_at = None
        contact.offer_expires_at = None
        contact.skipped_agents.append(agent_id)
        self.state.touch_contact(contact)
        self.state.touch_agent(agent)
        if timed_out:
            self.decisions.append(
                OfferTimedOut(
                    decision_id=self._next_id(),
                    contact_id=contact_id,
                    agent_id=agent_id,
                    queue=contact.queue,
                    requeued=True,
                    trigger_event_id=self.event_id,
                )
            )
        if missed:
            agent.missed_offers += 1
            limit = self.config.policy(contact.queue).max_missed_offers
            if agent.missed_offers >= limit and agent.state is AgentState.AVAILABLE:
                agent.state = AgentState.AWAY
                agent.reason = "missed_offers"
                self.decisions.append(
                    AgentPaused(
                        decision_id=self._next_id(),
                        agent_id=agent_id,
                        reason="missed_offers",
                        missed_offers=agent.missed_offers,
                        trigger_event_id=self.event_id,
                    )
                )
        if reroute:
            self._route(contact)
            self._serve_waiting(agent)

    def callback_requested(self, contact_id: str) -> None:
        """The customer hangs up but keeps their place: the contact waits as a callback (taking no
        capacity) and its assignment tells the platform to call back."""
        contact = self.state.contacts.get(contact_id)
        if contact is None or contact.status is not ContactStatus.WAITING:
            raise Rejection("a callback needs a waiting contact")
        contact.callback = True
        self.state.touch_contact(contact)

    def contact_transferred(self, event: ContactTransferred) -> None:
        """The agent hands the contact on: to another queue (new requirements), a named agent, or a
        supervisor (an agent with a supervisor skill). The agent is released, with wrap-up as for a
        completed contact; the contact waits anew, its history travelling with it."""
        contact = self.state.contacts.get(event.contact_id)
        if contact is None or contact.status is not ContactStatus.ASSIGNED or not contact.accepted:
            raise Rejection("only a contact in progress can be transferred")
        agent = self.state.agents[contact.agent_id or ""]
        self._release(agent, contact, completed=True)
        contact.previous_agents.append(agent.agent_id)
        contact.transfers += 1
        contact.first_arrived_at = contact.first_arrived_at or contact.arrived_at
        contact.queue = event.to_queue or contact.queue
        contact.skills = dict(event.skills) if event.skills is not None else dict(contact.base_skills or contact.skills)
        contact.language = contact.base_language if contact.base_skills is not None else contact.language
        contact.base_skills, contact.base_language, contact.relaxation_step = None, None, 0
        contact.arrived_at = self.now
        contact.status, contact.agent_id, contact.assigned_at = ContactStatus.WAITING, None, None
        contact.accepted, contact.offer_expires_at = False, None
        contact.skipped_agents = [agent.agent_id]  # not straight back to the agent who transferred it
        self._prefer(contact, event.to_agent_id)
        self.state.touch_contact(contact)
        self._route(contact)
        self._serve_waiting(agent)

    def contact_held(self, contact_id: str, *, on_hold: bool) -> None:
        """Holds change no routing, but the early warnings count them (many holds: a struggling call)."""
        contact = self.state.contacts.get(contact_id)
        if contact is None or contact.status is not ContactStatus.ASSIGNED or not contact.accepted:
            raise Rejection("only a contact in progress can be held or resumed")
        if on_hold and not contact.on_hold:
            contact.holds += 1
        contact.on_hold = on_hold
        self.state.touch_contact(contact)

    def contact_sentiment(self, contact_id: str, score: float) -> None:
        """Remembered for the early warnings: the level and how fast it moves."""
        contact = self.state.contacts.get(contact_id)
        if contact is None:
            raise Rejection("unknown contact (never arrived, or already finished)")
        contact.sentiment_prev = contact.sentiment
        contact.sentiment_prev_at = contact.sentiment_at
        contact.sentiment, contact.sentiment_at = score, self.now
        self.state.touch_contact(contact)

    def deadlines_reached(self) -> None:
        """Everything due by now, in a fixed order: expired offers, contacts past their queue's
        maximum handle or wait time (the sweeper), relaxation steps reached (in queue order), then
        ends of wrap-up."""
        expired = sorted(
            (c for c in self.state.contacts.values() if c.offer_pending() and (c.offer_expires_at or 0) <= self.due_by),
            key=lambda c: (c.offer_expires_at, c.contact_id),
        )
        # All expired offers end before any is offered again: otherwise an agent could be offered a
        # contact and then, by a later expiry in this same event, be paused while it rings.
        declined_by = []
        for contact in expired:
            assert contact.agent_id is not None
            declined_by.append(self.state.agents[contact.agent_id])
            self.offer_declined(contact.contact_id, contact.agent_id, missed=True, timed_out=True, reroute=False)
        for contact, agent in zip(expired, declined_by, strict=True):
            if contact.status is ContactStatus.WAITING:
                self._route(contact)
            self._serve_waiting(agent)
        for contact in sorted(self.state.contacts.values(), key=lambda c: (c.arrived_at, c.contact_id)):
            policy = self.config.policy(contact.queue)
            if contact.status is ContactStatus.ASSIGNED and not contact.offer_pending():
                limit = policy.max_handle_seconds
                if limit and contact.assigned_at is not None and contact.assigned_at + limit <= self.due_by:
                    self.contact_finished(contact.contact_id, "expired")
            elif contact.status is ContactStatus.WAITING:
                limit = policy.max_wait_seconds
                if limit and contact.arrived_at + limit <= self.due_by:
                    self.contact_finished(contact.contact_id, "expired")
        for contact in sorted(self.state.waiting(), key=self._order):
            if contact.preferred_until is not None and contact.preferred_until <= self.due_by:
                contact.preferred_until = None  # waited long enough for the preferred agent
                self.state.touch_contact(contact)
                self._route(contact, announce_wait=False)
        for contact in sorted(self.state.waiting(), key=self._order):
            policy = self.config.policy(contact.queue)
            step = step_reached(policy, self.due_by - contact.arrived_at)
            if step > contact.relaxation_step:
                relax(contact, policy, step)
                self.state.touch_contact(contact)
                self._route(contact, announce_wait=False)
        wrapped = sorted(
            (a for a in self.state.agents.values() if a.wrap_up_until is not None and a.wrap_up_until <= self.due_by),
            key=lambda a: (a.wrap_up_until, a.agent_id),
        )
        for agent in wrapped:
            agent.wrap_up_until = None
            if agent.state is AgentState.WRAP_UP:
                agent.state = AgentState.AVAILABLE
                if not agent.active:
                    agent.idle_since = self.now
            self.state.touch_agent(agent)
            self._serve_waiting(agent)

    def _offered_to(self, contact_id: str, agent_id: str) -> Contact:
        contact = self.state.contacts.get(contact_id)
        if contact is None or contact.status is not ContactStatus.ASSIGNED or contact.agent_id != agent_id:
            raise Rejection("the contact is not offered to or assigned to that agent")
        return contact

    def _serve_waiting(self, agent: Agent) -> None:
        """Give the agent the best waiting contacts it can take, until it is full or none fits."""
        while (contact := best_contact(self.state.waiting(), agent, self._order, self.config.channel_blocks)) is not None:
            parts = components(agent, contact, self.now, self._window)
            self._assign(contact, Match(agent, score(self.config.policy(contact.queue), agent, contact, parts), parts))

    def _assign(self, contact: Contact, match: Match) -> None:
        agent = match.agent
        policy = self.config.policy(contact.queue)
        timeout = policy.offer_timeout_seconds
        agent.settle_occupancy(self.now, self._window)
        agent.last_assigned_at = self.now
        contact.status = ContactStatus.ASSIGNED
        contact.agent_id = agent.agent_id
        contact.assigned_at = self.now
        contact.accepted = timeout is None
        contact.offer_expires_at = None if timeout is None else self.now + timeout
        agent.active[contact.contact_id] = contact.channel
        self.state.touch_contact(contact)
        self.state.touch_agent(agent)
        self.decisions.append(
            ContactAssigned(
                decision_id=self._next_id(),
                contact_id=contact.contact_id,
                agent_id=agent.agent_id,
                queue=contact.queue,
                channel=contact.channel,
                score=round(match.score, 4),
                waited_seconds=max(self.now - contact.arrived_at, 0.0),
                relaxation_step=contact.relaxation_step,
                matched_skills={skill: agent.skills.get(skill, 0) for skill in contact.skills},
                policy=policy.scoring,
                score_components=match.components,
                callback=contact.callback,
                offer_timeout_seconds=timeout,
                transfers=contact.transfers,
                previous_agents=list(contact.previous_agents),
                trigger_event_id=self.event_id,
            )
        )

    def _order(self, contact: Contact) -> tuple[float, float, str]:
        return contact.queue_order(self.now, self.config.policy(contact.queue).priority_aging_per_minute)

    def _queue_position(self, contact: Contact) -> int:
        order = self._order(contact)
        return 1 + sum(1 for c in self.state.waiting() if c.queue == contact.queue and self._order(c) < order)
