"""The pure core's one entry point: route an event, then watch what it did for early warnings.

Everything the worker and the offline simulator do with an event goes through here, so the simulator
measures what production runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from contact_router.alerts.detectors import EarlyWarning
from contact_router.alerts.kpis import Fact
from contact_router.alerts.outlook import Forecast
from contact_router.contract import ContactArrived, ContactEnded, EscalationAlert, InputEvent
from contact_router.routing.config import RoutingConfig
from contact_router.routing.engine import Decision, Router
from contact_router.routing.model import DomainState


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
        warning_at = self.warnings.next_deadline(state) if self.warnings is not None else None
        found = [t for t in (self.router.next_deadline(state), warning_at) if t is not None]
        return min(found, default=None)

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
