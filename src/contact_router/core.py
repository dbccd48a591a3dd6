"""The pure core's one entry point: route an event, then watch what it did for early warnings.

Everything the worker and the offline simulator do with an event goes through here, so the simulator
measures what production runs.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from contact_router.alerts.detectors import EarlyWarning
from contact_router.alerts.kpis import Fact
from contact_router.alerts.outlook import Forecast
from contact_router.contract import ContactArrived, ContactEnded, EscalationAlert, InputEvent
from contact_router.routing.config import RoutingConfig
from contact_router.routing.engine import Decision, Router, wrap_up_deadline
from contact_router.routing.model import DomainState, KeptDeadlines

_engine_ids = itertools.count()


@dataclass
class Outcome:
    decisions: list[Decision] = field(default_factory=list)
    alerts: list[EscalationAlert] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)


class Engine:
    def __init__(
        self,
        config: RoutingConfig | None = None,
        forecasts: Mapping[str, Forecast] | None = None,
        *,
        early_warnings: bool = True,
    ) -> None:
        """Without early warnings only the router runs: the detectors watch and never steer the
        routing, so routing-quality runs of large centers can leave out their cost."""
        self.config = config or RoutingConfig()
        self._id = next(_engine_ids)  # names the engine whose deadline parts a state keeps
        self.router = Router(self.config)
        self.warnings = EarlyWarning(self.config, forecasts) if early_warnings else None

    def handle(self, state: DomainState, event: InputEvent, event_id: str, now: float, *, domain: str) -> Outcome:
        """Apply the event (raises Rejection when it does not apply, leaving the state unchanged);
        `domain` names the state's domain in the ids of the alerts it raises."""
        if self.warnings is None:
            return Outcome(self.router.handle(state, event, event_id, now))
        before = self.warnings.before(state, event)
        decisions = self.router.handle(state, event, event_id, now)
        observed = self.warnings.after(state, event, decisions, before, now, domain=domain)
        return Outcome(decisions, observed.alerts, observed.facts)

    def next_deadline(self, state: DomainState) -> float | None:
        """When the domain next needs a timer.fired. This runs after every commit, over every live
        contact; working out each contact's part anew was 8% of a worker's main thread at live
        load (py-spy), so each part is kept on the state until its contact changes (every change
        goes through DomainState.touch_contact or remove_contact, which drop it)."""
        kept = self._kept_deadlines(state)
        found = min(min(kept.router.values(), default=math.inf), wrap_up_deadline(state))
        if self.warnings is not None:
            warning_at = self.warnings.deadline_of(state, kept.long_wait, kept.handling)
            if warning_at is not None:
                found = min(found, warning_at)
        return None if found == math.inf else found

    def _kept_deadlines(self, state: DomainState) -> KeptDeadlines:
        kept = state.kept_deadlines
        if kept.engine != self._id:  # worked out by another engine, or never
            kept.reset(self._id)
        for contact_id in state.contacts.keys() - kept.router.keys():
            contact = state.contacts[contact_id]
            kept.router[contact_id] = self.router.contact_deadline(contact)
            if self.warnings is not None:
                long_wait_at, handling = self.warnings.contact_times(contact)
                if long_wait_at != math.inf:
                    kept.long_wait[contact_id] = long_wait_at
                if handling is not None:
                    kept.handling[contact_id] = handling
        return kept

    @staticmethod
    def customers_needed(state: DomainState, event: InputEvent) -> list[str]:
        """Customer histories the event reads or writes: the store loads them before `handle`."""
        if isinstance(event, ContactArrived) and event.customer_ref:
            return [event.customer_ref]
        if isinstance(event, ContactEnded) and event.csat is not None:
            contact = state.contacts.get(event.contact_id)
            if contact is not None and contact.customer_ref:
                return [contact.customer_ref]
        return []
