"""The early-warning detectors: after each applied event, and on the domain's timers, look at the
domain's state and raise (or resolve) escalation alerts about contacts, queues and agents.

Pure, like the router: the same events give the same alerts, with the same ids, in the worker and in
the offline simulator, which is how the simulator can measure how early and how right they are.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

from contact_router.alerts.kpis import (
    Abandoned,
    Answered,
    Arrived,
    CallbackRequested,
    Fact,
    Finished,
    Transferred,
    location_label,
)
from contact_router.alerts.lifecycle import AlertBook, Evidence
from contact_router.alerts.outlook import Forecast, expected_wait, queue_outlook, representative, servers_for
from contact_router.alerts.state import CustomerHistory, QueueStats, alert_key, period_of
from contact_router.contract import (
    AgentPaused,
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
    ContactSentiment,
    ContactTransferred,
    EscalationAlert,
    InputEvent,
    TimerFired,
)
from contact_router.routing.config import RoutingConfig
from contact_router.routing.engine import Decision
from contact_router.routing.model import DUE_TOLERANCE_SECONDS, Agent, Contact, ContactStatus, DomainState, Handling

HISTORY_SECONDS = 7 * 86_400.0  # customer history kept for the 7-day repeat rate
ARRIVALS_JUDGED_AFTER_SECONDS = 300.0  # arrivals against the forecast: neither fired nor resolved sooner

# Contact alerts that end when the contact stops waiting; the others end when it closes.
WAITING_KINDS = ("contact_waiting_long", "contact_breach_predicted")
CONTACT_KINDS = (
    *WAITING_KINDS, "repeat_contact", "channel_hop", "previous_csat_low",
    "sentiment_low", "sentiment_falling", "many_transfers", "many_holds",
)  # fmt: skip


@dataclasses.dataclass
class Observed:
    """What one event did, beyond routing: KPI facts and alerts to publish."""

    facts: list[Fact]
    alerts: list[EscalationAlert]


class EarlyWarning:
    def __init__(self, config: RoutingConfig, forecasts: Mapping[str, Forecast] | None = None) -> None:
        self.config = config
        self.forecasts = dict(forecasts or {})

    def before(self, state: DomainState, event: InputEvent) -> Contact | None:
        """The contact an event is about, as it is before the router changes or removes it."""
        contact_id = getattr(event, "contact_id", None)
        contact = state.contacts.get(contact_id) if contact_id else None
        return dataclasses.replace(contact) if contact is not None else None

    def after(
        self,
        state: DomainState,
        event: InputEvent,
        decisions: list[Decision],
        before: Contact | None,
        now: float,
        *,
        domain: str,
    ) -> Observed:
        watch = _Watch(self, domain, state, now)
        watch.count(event, decisions, before)
        watch.check_event(event, decisions, before)
        if isinstance(event, TimerFired):
            watch.evaluate()
        return Observed(watch.facts, watch.book.outputs)

    def next_deadline(self, state: DomainState) -> float | None:
        """When the detectors next need a timer: a contact reaching its warning wait, a contact in
        progress reaching a long handle time, or a queue's next evaluation."""
        long_waits: dict[str, float] = {}
        handling: dict[str, Handling] = {}
        for contact in state.contacts.values():
            long_waits[contact.contact_id], in_progress = self.contact_times(contact)
            if in_progress is not None:
                handling[contact.contact_id] = in_progress
        return self.deadline_of(state, long_waits, handling)

    def contact_times(self, contact: Contact) -> tuple[float, Handling | None]:
        """When the contact's wait becomes long enough to warn of (inf: never), and its handling
        if the long-handle warning watches it. They depend on the contact alone, so core.Engine
        keeps them until the contact changes."""
        policy = self.config.policy(contact.queue)
        if not contact.accepted:  # waiting, or ringing
            share = policy.alerts.waiting_share
            return (math.inf if share is None else contact.arrived_at + share * policy.service_level_seconds), None
        if contact.assigned_at is not None and policy.alerts.handle_time_factor:
            return math.inf, Handling(contact.assigned_at, contact.queue, contact.agent_id)
        return math.inf, None

    def deadline_of(self, state: DomainState, long_waits: Mapping[str, float], handling: Mapping[str, Handling]) -> float | None:
        """The detectors' next deadline from the times of the live contacts (contact_times), with
        the alerts firing and the queues' handle times of now."""
        # Not for a contact whose long-wait alert fires, nor for an agent whose handle-time alert
        # fires or cools down: the timer could not change anything.
        waited_long = {a.subject_id for a in state.alerts.values() if a.kind == "contact_waiting_long" and a.resolved_at is None}
        if waited_long:
            found = min((at for contact_id, at in long_waits.items() if contact_id not in waited_long), default=math.inf)
        else:
            found = min(long_waits.values(), default=math.inf)
        handled_long = {a.subject_id for a in state.alerts.values() if a.kind == "handle_time_high" and a.subject_kind == "agent"}
        first_start: dict[str, float] = {}  # per queue
        for contact in handling.values():
            # A long handle ends after it started: a start at or after `found` cannot come first.
            if contact.since < found and contact.since < first_start.get(contact.queue, math.inf):
                if (contact.agent_id or "") not in handled_long:
                    first_start[contact.queue] = contact.since
        for queue, since in first_start.items():
            found = min(found, since + self.long_handle_seconds(queue, state))
        if state.contacts or any(a.state is not AgentState.OFFLINE for a in state.agents.values()):
            for queue, stats in state.queues.items():
                if stats.evaluated_at is not None:
                    found = min(found, stats.evaluated_at + self.config.policy(queue).alerts.evaluate_every_seconds)
        return None if found == math.inf else found

    def long_handle_seconds(self, queue: str, state: DomainState) -> float:
        policy = self.config.policy(queue)
        stats = state.queues.get(queue)
        aht = (stats.aht if stats is not None else None) or policy.expected_handle_seconds
        return max((policy.alerts.handle_time_factor or 0.0) * aht, policy.alerts.handle_time_min_seconds)


def on_the_grid(t: float, every: float) -> float:
    """The last multiple of `every` seconds (POSIX) at or before t. Queue evaluations keep to this
    grid rather than to the events that happened to trigger them: with an interval that divides the
    half hour, every half hour is judged at the same minutes and seconds, the mark 5 minutes before its
    end among them, instead of up to an interval after it."""
    return math.floor(t / every) * every


class _Watch:
    """One event's worth of detection."""

    def __init__(self, owner: EarlyWarning, domain: str, state: DomainState, now: float) -> None:
        self.config = owner.config
        self.owner = owner
        self.state = state
        self.now = now
        self.due_by = now + DUE_TOLERANCE_SECONDS  # timer deadlines up to this are reached
        self.book = AlertBook(domain, state, now)
        self.facts: list[Fact] = []

    # ------------------------------------------------------------------ KPI facts

    def _stats(self, queue: str) -> QueueStats:
        stats = self.state.queues.get(queue)
        if stats is None:
            stats = QueueStats(period_start=period_of(self.now), evaluated_at=self.now)
        stats.roll(self.now)
        self.state.touch_queue(queue, stats)
        return stats

    def _threshold(self, queue: str) -> float:
        return self.config.policy(queue).service_level_seconds

    def count(self, event: InputEvent, decisions: list[Decision], before: Contact | None) -> None:
        """Derive the facts and count them into the queues' half-hour figures."""
        if isinstance(event, ContactArrived):
            stats = self._stats(event.queue)
            stats.current.arrived += 1
            stats.channel, stats.skills, stats.language = event.channel.value, dict(event.skills), event.language
            self.facts.append(Arrived(event.queue, event.channel.value))
        if isinstance(event, ContactAccepted):
            contact = self.state.contacts[event.contact_id]
            self._answered(contact.queue, contact.channel.value, (contact.assigned_at or self.now) - contact.arrived_at)
        if isinstance(event, ContactTransferred) and before is not None:
            self.facts.append(Transferred(before.queue, before.channel.value))
        if isinstance(event, ContactCallbackRequested) and before is not None:
            self.facts.append(CallbackRequested(before.queue, before.channel.value))
        for d in decisions:
            if isinstance(d, ContactAssigned) and d.offer_timeout_seconds is None:
                self._answered(d.queue, d.channel.value, d.waited_seconds)
            elif isinstance(d, ContactClosed):
                self._closed(d, event, before)

    def _answered(self, queue: str, channel: str, waited: float) -> None:
        stats = self._stats(queue)
        within = waited <= self._threshold(queue)
        stats.current.answered += 1
        stats.current.met += within
        self.facts.append(Answered(queue, channel, waited, within))

    def _closed(self, d: ContactClosed, event: InputEvent, before: Contact | None) -> None:
        answered = d.agent_id is not None and d.handled_seconds is not None
        if isinstance(event, ContactAbandoned) and before is not None:
            answered = before.accepted  # a customer hanging up while it rings was never answered
        if d.outcome == "completed" and before is not None and before.agent_id is not None:
            self._finished(d, event, before)
        elif not answered and d.outcome in ("abandoned", "expired"):
            stats = self._stats(d.queue)
            stats.current.abandoned += 1
            self.facts.append(Abandoned(d.queue, d.channel.value, d.waited_seconds, d.outcome == "expired"))

    def _finished(self, d: ContactClosed, event: InputEvent, before: Contact) -> None:
        policy = self.config.policy(d.queue)
        handle = (d.handled_seconds or 0.0) + policy.wrap_up_seconds
        stats = self._stats(d.queue)
        prior = stats.aht or policy.expected_handle_seconds
        stats.aht = prior + (handle - prior) / min(stats.finished + 2, 50)  # running mean, then moving
        stats.finished += 1
        resolved = event.resolved if isinstance(event, ContactEnded) else True
        csat = event.csat if isinstance(event, ContactEnded) else None
        repeat = before.repeat_after_seconds
        first = resolved and before.transfers == 0 and (repeat is None or repeat > 86_400.0)
        agent = self.state.agents.get(before.agent_id or "")
        self.facts.append(
            Finished(
                d.queue, d.channel.value, before.agent_id or "", location_label(agent.location if agent else None),
                handle, resolved, first, csat, repeat,
            )
        )  # fmt: skip
        if csat is not None and before.customer_ref:
            history = self.state.customers.get(before.customer_ref) or CustomerHistory()
            history.last_csat = csat
            self.state.touch_customer(before.customer_ref, history)

    # ------------------------------------------------------------------ event-driven checks

    def check_event(self, event: InputEvent, decisions: list[Decision], before: Contact | None) -> None:
        if isinstance(event, ContactArrived):
            contact = self.state.contacts.get(event.contact_id)
            if contact is not None:
                self._customer_checks(contact)
                if contact.status is ContactStatus.WAITING:
                    self._predict(contact)
        elif isinstance(event, ContactSentiment):
            self._sentiment(self.state.contacts[event.contact_id])
        elif isinstance(event, ContactHeld):
            contact = self.state.contacts[event.contact_id]
            limit = self.config.policy(contact.queue).alerts.max_holds
            if limit and contact.holds >= limit:
                self._contact_alert("many_holds", "warning", contact, {"holds": contact.holds})
        elif isinstance(event, ContactTransferred):
            contact = self.state.contacts[event.contact_id]
            limit = self.config.policy(contact.queue).alerts.max_transfers
            if limit and contact.transfers >= limit:
                self._contact_alert("many_transfers", "warning", contact, {"transfers": contact.transfers})
        elif isinstance(event, AgentStateChanged) and event.state is AgentState.AVAILABLE:
            self.book.resolve("missed_offers", "agent", event.agent_id)
        answered = [d.contact_id for d in decisions if isinstance(d, ContactAssigned) and d.offer_timeout_seconds is None]
        if isinstance(event, ContactAccepted):
            answered.append(event.contact_id)
        for contact_id in answered:  # the wait is over once answered (a ringing phone is still a wait)
            for kind in WAITING_KINDS:
                self.book.resolve(kind, "contact", contact_id)
        for d in decisions:
            if isinstance(d, ContactClosed):
                for kind in CONTACT_KINDS:
                    self.book.resolve(kind, "contact", d.contact_id, {"outcome": d.outcome})
            elif isinstance(d, AgentPaused) and self.config.default.alerts.missed_offers:
                self.book.fire(
                    "missed_offers", "warning", "agent", d.agent_id, None, {"missed_offers": d.missed_offers},
                    self.config.default.alerts.cooldown_seconds,
                )  # fmt: skip

    def _contact_alert(self, kind: str, severity: str, contact: Contact, evidence: Evidence) -> None:
        self.book.fire(kind, severity, "contact", contact.contact_id, contact.queue, evidence)

    def _customer_checks(self, contact: Contact) -> None:
        """Repeat contacts, channel hops and a low previous CSAT, from the customer's history."""
        ref = contact.customer_ref
        if not ref:
            return
        rules = self.config.policy(contact.queue).alerts
        history = self.state.customers.get(ref) or CustomerHistory()
        same_queue = [at for at, queue, _ in history.contacts if queue == contact.queue]
        if same_queue:
            contact.repeat_after_seconds = self.now - same_queue[-1]
            self.state.touch_contact(contact)
            if rules.repeat_window_seconds and contact.repeat_after_seconds <= rules.repeat_window_seconds:
                self._contact_alert("repeat_contact", "info", contact, {"since_seconds": contact.repeat_after_seconds})
        other_channel = [at for at, _, channel in history.contacts if channel != contact.channel.value]
        window = rules.channel_hop_window_seconds
        if other_channel and window and self.now - other_channel[-1] <= window:
            self._contact_alert("channel_hop", "info", contact, {"since_seconds": self.now - other_channel[-1]})
        low = rules.previous_csat_at_most
        if low and history.last_csat is not None and history.last_csat <= low:
            self._contact_alert("previous_csat_low", "warning", contact, {"previous_csat": history.last_csat})
        history.remember(self.now, contact.queue, contact.channel.value, HISTORY_SECONDS)
        self.state.touch_customer(ref, history)

    def _sentiment(self, contact: Contact) -> None:
        rules = self.config.policy(contact.queue).alerts
        score = contact.sentiment if contact.sentiment is not None else 0.0
        if rules.sentiment_low is not None and score <= rules.sentiment_low:
            self._contact_alert("sentiment_low", "warning", contact, {"score": score})
        prev, prev_at = contact.sentiment_prev, contact.sentiment_prev_at
        if rules.sentiment_drop and prev is not None and prev_at is not None:
            if prev - score >= rules.sentiment_drop and self.now - prev_at <= rules.sentiment_drop_seconds:
                self._contact_alert(
                    "sentiment_falling", "warning", contact,
                    {"score": score, "previous": prev, "seconds": self.now - prev_at},
                )  # fmt: skip

    def _predict(self, contact: Contact, position: int | None = None, servers: int | None = None) -> None:
        """Warn when the contact's expected wait passes the threshold (before it does)."""
        policy = self.config.policy(contact.queue)
        if not policy.alerts.predict_breach:
            return
        stats = self._stats(contact.queue)
        if position is None or servers is None:
            waiting = self._waiting(contact.queue)
            position = 1 + waiting.index(contact)
            servers = servers_for(self.state.agents.values(), representative(stats, contact.queue))
        aht = stats.aht or policy.expected_handle_seconds
        waited = self.now - contact.arrived_at
        expected = waited + expected_wait(position, servers, aht)
        if expected > policy.service_level_seconds and waited < policy.service_level_seconds:
            self._contact_alert(
                "contact_breach_predicted", "warning", contact,
                {"expected_wait_seconds": min(expected, 86_400.0), "position": position, "servers": servers},
            )  # fmt: skip

    def _waiting(self, queue: str) -> list[Contact]:
        aging = self.config.policy(queue).priority_aging_per_minute
        waiting = [c for c in self.state.waiting() if c.queue == queue]
        return sorted(waiting, key=lambda c: c.queue_order(self.now, aging))

    # ------------------------------------------------------------------ timer-driven evaluation

    def evaluate(self) -> None:
        """On a timer: contacts and agents past their warning times now; queues and occupancy every
        evaluation interval."""
        for contact in self.state.contacts.values():
            if contact.accepted:
                continue  # answered: its wait is over (a waiting or ringing contact is not accepted)
            share = self.config.policy(contact.queue).alerts.waiting_share
            waited = self.now - contact.arrived_at
            threshold = self._threshold(contact.queue)
            if share is not None and contact.arrived_at + share * threshold <= self.due_by:
                self._contact_alert(
                    "contact_waiting_long", "warning", contact, {"waited_seconds": waited, "threshold_seconds": threshold}
                )
        self._check_handle_times()
        due = [
            queue
            for queue, stats in self.state.queues.items()
            if stats.evaluated_at is None
            or stats.evaluated_at + self.config.policy(queue).alerts.evaluate_every_seconds <= self.due_by
        ]
        if due:
            for queue in sorted(due):
                self._evaluate_queue(queue)
            self._check_occupancy()
            self.book.forget_cooled()

    def _evaluate_queue(self, queue: str) -> None:
        policy = self.config.policy(queue)
        rules = policy.alerts
        stats = self._stats(queue)
        stats.evaluated_at = on_the_grid(self.due_by, rules.evaluate_every_seconds)
        waiting = self._waiting(queue)
        view = queue_outlook(queue, stats, policy, self.state.agents.values(), waiting, self.now, self.owner.forecasts.get(queue))
        stats.projected_service_level = view.projected_service_level
        stats.staffed = view.staffed
        stats.required_erlang_c, stats.required_erlang_a = view.required_erlang_c, view.required_erlang_a
        stats.forecast_arrivals = view.forecast_arrivals
        for position, contact in enumerate(waiting, start=1):
            self._predict(contact, position, view.servers)

        def ratio_alert(
            kind: str, severity: str, bad: bool, recovered: bool, evidence: Evidence, cooldown: float = rules.cooldown_seconds
        ) -> None:
            if bad:
                self.book.fire(kind, severity, "queue", queue, queue, evidence, cooldown)
            elif recovered:
                self.book.resolve(kind, "queue", queue, evidence)

        projected, upper, target = view.projected_service_level, view.projected_upper, policy.service_level_target
        if rules.sla_projection:
            # A projection is about one half hour: the next one is judged afresh, with no cooldown.
            earlier = self.state.alerts.get(alert_key("sla_at_risk", "queue", queue))
            if earlier is not None and earlier.resolved_at is None and period_of(earlier.fired_at) < stats.period_start:
                self.book.resolve("sla_at_risk", "queue", queue, {"half_hour_ended": 1})
            ratio_alert(
                "sla_at_risk", "warning",
                upper is not None and upper < target and self.now - stats.period_start >= rules.sla_warn_after_seconds,
                projected is None or projected >= target + rules.resolve_margin,
                {"projected_service_level": projected if projected is not None else -1.0,
                 "projected_upper": upper if upper is not None else -1.0, "target": target,
                 "waiting": len(waiting), "staffed": view.staffed, "required": view.required_erlang_c,
                 "aht_seconds": view.aht},
                cooldown=0.0,
            )  # fmt: skip
        offered = stats.current.offered
        if rules.abandonment_ratio is not None:
            ratio = stats.current.abandoned / offered if offered else 0.0
            ratio_alert(
                "abandonment_high", "warning",
                offered >= rules.min_offered and ratio >= rules.abandonment_ratio,
                ratio < rules.abandonment_ratio - rules.resolve_margin,
                {"abandonment": ratio, "offered": offered, "threshold": rules.abandonment_ratio},
            )  # fmt: skip
        if rules.arrivals_over_forecast is not None and view.forecast_arrivals:
            elapsed = self.now - stats.period_start
            expected = view.forecast_arrivals * elapsed / 1800.0
            ratio = stats.current.arrived / expected if expected > 0 else 0.0
            judged = elapsed >= ARRIVALS_JUDGED_AFTER_SECONDS  # a few minutes' arrivals say nothing either way
            ratio_alert(
                "arrivals_above_forecast", "warning",
                judged and stats.current.arrived >= rules.min_offered and ratio >= rules.arrivals_over_forecast,
                judged and ratio < rules.arrivals_over_forecast,
                {"arrivals": stats.current.arrived, "forecast_so_far": expected, "ratio": ratio},
            )  # fmt: skip
        if rules.no_agent:
            ratio_alert(
                "no_staffed_agent", "page", bool(waiting) and view.logged_in == 0, view.logged_in > 0,
                {"waiting": len(waiting)},
            )  # fmt: skip
            ratio_alert(
                "no_available_agent", "warning", bool(waiting) and view.logged_in > 0 and view.staffed == 0,
                view.staffed > 0 or not waiting, {"waiting": len(waiting), "logged_in": view.logged_in},
            )  # fmt: skip
        if rules.understaffed:
            needed = max(view.required_erlang_c, view.required_next or 0)
            ratio_alert(
                "understaffed", "warning", view.staffed < needed and view.arrival_rate > 0, view.staffed >= needed,
                {"staffed": view.staffed, "required": view.required_erlang_c,
                 "required_next": view.required_next if view.required_next is not None else -1},
            )  # fmt: skip

    def _long_contact(self, agent: Agent) -> Contact | None:
        """A contact the agent has handled far longer than its queue's norm, if any."""
        for contact_id in sorted(agent.active):
            c = self.state.contacts.get(contact_id)
            if c is None or not c.accepted or c.assigned_at is None:
                continue
            if self.config.policy(c.queue).alerts.handle_time_factor and (
                c.assigned_at + self.owner.long_handle_seconds(c.queue, self.state) <= self.due_by
            ):
                return c
        return None

    def _check_handle_times(self) -> None:
        """Fire for agents with a contact far past its queue's norm, resolve for those without one any
        more. Only agents with such a contact or with the alert on can change: in a large center
        they are few, and this runs on every timer."""
        rules = self.config.default.alerts
        candidates = {a.subject_id for a in self.state.alerts.values() if a.kind == "handle_time_high"}
        long_handle: dict[str, float] = {}
        for c in self.state.contacts.values():
            if c.accepted and c.assigned_at is not None and c.agent_id is not None:
                if c.queue not in long_handle:
                    factor = self.config.policy(c.queue).alerts.handle_time_factor
                    long_handle[c.queue] = self.owner.long_handle_seconds(c.queue, self.state) if factor else math.inf
                if c.assigned_at + long_handle[c.queue] <= self.due_by:
                    candidates.add(c.agent_id)
        for agent in self.state.agents.values():
            if agent.agent_id not in candidates:
                continue
            long = self._long_contact(agent)
            if long is not None:
                stats = self.state.queues.get(long.queue)
                self.book.fire(
                    "handle_time_high", "warning", "agent", agent.agent_id, long.queue,
                    {"handle_seconds": self.now - (long.assigned_at or self.now),
                     "queue_aht_seconds": (stats.aht if stats else None) or 0.0},
                    rules.cooldown_seconds,
                )  # fmt: skip
            else:
                self.book.resolve("handle_time_high", "agent", agent.agent_id)

    def _check_occupancy(self) -> None:
        window = self.config.occupancy_window_seconds
        rules = self.config.default.alerts
        if rules.occupancy_high is None:
            return
        for agent in self.state.agents.values():
            occupancy = agent.occupancy_now(self.now, window)
            if occupancy >= rules.occupancy_high and agent.state is not AgentState.OFFLINE:
                self.book.fire(
                    "occupancy_high", "warning", "agent", agent.agent_id, None,
                    {"occupancy": occupancy, "window_seconds": window}, rules.cooldown_seconds,
                )  # fmt: skip
            elif occupancy < rules.occupancy_high - rules.resolve_margin or agent.state is AgentState.OFFLINE:
                self.book.resolve("occupancy_high", "agent", agent.agent_id, {"occupancy": occupancy})
