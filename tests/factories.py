"""Builders of input envelopes shared by every test layer."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from contact_router.contract import ContactAssigned, Envelope, parse_input
from contact_router.routing import DomainState, Router
from contact_router.routing.config import RoutingConfig

# Event times run from a minute before the test run started (whole seconds): the service checks
# event times against the Kafka record's time, so fixed dates would age out of its window.
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
_ids = itertools.count()


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
