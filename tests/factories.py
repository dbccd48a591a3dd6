"""Builders of input envelopes shared by every test layer."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from contact_router.contract import ContactAssigned, Envelope, parse_input
from contact_router.privacy import Pseudonyms
from contact_router.routing import DomainState, Router
from contact_router.routing.config import RoutingConfig

# Event times run from a minute before the test run started (whole seconds): the service checks
# event times against the Kafka record's time, so fixed dates would age out of its window.
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
_ids = itertools.count()
# The tests' key for hashing customer references (workers get it as CONTACT_ROUTER_CUSTOMER_REF_KEY).
CUSTOMER_REF_KEY = "tests-only-customer-ref-key-0123456789"
PSEUDONYMS = Pseudonyms(CUSTOMER_REF_KEY)


def envelope(type_: str, data: dict[str, Any], *, domain: str = "bank", at: float = 0.0, id_: str | None = None) -> Envelope:
    return Envelope(
        id=id_ or f"evt-{next(_ids)}",
        type=type_,
        time=T0 + timedelta(seconds=at),
        domain=domain,
        source="tests",
        data=data,
    )


def agent_in(agent_id: str, skills: dict[str, int], *, capacity: dict[str, int] | None = None, **kw: Any) -> dict[str, Any]:
    return {"agent_id": agent_id, "skills": skills, "capacity": capacity or {"voice": 1}, **kw}


def contact(contact_id: str, skills: dict[str, int], *, channel: str = "voice", queue: str = "general", **kw: Any) -> dict[str, Any]:
    return {"contact_id": contact_id, "channel": channel, "queue": queue, "skills": skills, **kw}


class RoutedDomain:
    """One routing domain driven through the pure router as the service would; times are seconds
    from T0."""

    def __init__(self, config: RoutingConfig | None = None) -> None:
        self.state = DomainState()
        self.router = Router(config)

    def send(self, type_: str, data: dict[str, Any], at: float = 0.0) -> list[Any]:
        env = envelope(type_, data, at=at)
        return self.router.handle(self.state, parse_input(env), env.id, env.timestamp)

    def tick(self, at: float) -> list[Any]:
        return self.send("timer.fired", {}, at=at)

    def deadline(self) -> float | None:
        """The domain's next deadline, in seconds from T0."""
        d = self.router.next_deadline(self.state)
        return None if d is None else round(d - T0.timestamp(), 3)


def assigned(decisions: list[Any]) -> list[tuple[str, str]]:
    return [(d.contact_id, d.agent_id) for d in decisions if isinstance(d, ContactAssigned)]


class WatchedDomain:
    """One routing domain driven through the whole pure core (routing and early warnings), keeping
    every alert raised; times are seconds from the start of the half hour T0 is in, so tests know
    which half hour their events count in."""

    def __init__(self, config: RoutingConfig | None = None, forecasts: dict[str, Any] | None = None) -> None:
        from contact_router.alerts.state import period_of
        from contact_router.core import Engine

        self.start = period_of(T0.timestamp())
        self.state = DomainState()
        self.engine = Engine(config, forecasts)
        self.alerts: list[Any] = []
        self.facts: list[Any] = []

    def send(self, type_: str, data: dict[str, Any], at: float = 0.0) -> Any:
        env = envelope(type_, data, at=self.start + at - T0.timestamp())
        outcome = self.engine.handle(self.state, parse_input(env), env.id, env.timestamp, domain=env.domain)
        self.alerts += outcome.alerts
        self.facts += outcome.facts
        return outcome

    def run_timers(self, until: float) -> None:
        """Fire every timer the domain asks for up to `until`, as the worker would."""
        for _ in range(100_000):
            deadline = self.engine.next_deadline(self.state)
            if deadline is None or deadline > self.start + until:
                return
            self.send("timer.fired", {}, at=deadline - self.start)
        raise AssertionError("timers never settle: a deadline that firing does not move")

    def firing(self) -> set[tuple[str, str]]:
        """(kind, subject id) of the alerts firing now."""
        return {(a.kind, a.subject_id) for a in self.state.alerts.values() if a.resolved_at is None}

    def raised(self, kind: str) -> list[Any]:
        return [a for a in self.alerts if a.kind == kind and a.status == "firing"]


def transfers_scenario(hours: float) -> dict[str, Any]:
    """A front queue that transfers 30% of its contacts to a small expert queue (a scenario document)."""
    return {
        "name": "transfers",
        "domains": ["d"],
        "hours": hours,
        "queues": [
            {"name": "front", "arrivals_per_hour": 100, "mean_handle_seconds": 60, "mean_patience_seconds": 1e9,
             "transfer_share": 0.3, "transfer_to": "back"},
            {"name": "back", "skills": {"expert": 1}, "arrivals_per_hour": 1, "mean_handle_seconds": 120,
             "mean_patience_seconds": 1e9},
        ],
        "agents": [
            {"name": "front-team", "count": 4, "skills": {}},
            {"name": "experts", "count": 3, "skills": {"expert": [1, 3]}},
        ],
    }  # fmt: skip
