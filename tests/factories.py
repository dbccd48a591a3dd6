"""Builders of input envelopes shared by every test layer."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from contact_router.contract import Envelope

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
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
