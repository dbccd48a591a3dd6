"""Time-driven routing through the real pipeline: timer.fired events published by the owning worker."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from contact_router.contract import Envelope
from tests.e2e.pipeline import Pipeline, of_type
from tests.factories import agent_in, contact, envelope

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def now(type_: str, data: dict[str, Any], domain: str) -> Envelope:
    """An event stamped with the wall clock, as a live platform would: timers fire on wall time."""
    return envelope(type_, data, domain=domain).model_copy(update={"time": datetime.now(UTC)})


async def test_an_unanswered_offer_times_out_and_goes_to_the_next_agent(pipeline: Pipeline) -> None:
    d = f"ring-{uuid.uuid4().hex[:6]}"
    await pipeline.publish(
        [now("agent.logged_in", agent_in("ann", {"s": 5}), d), now("agent.logged_in", agent_in("bob", {"s": 3}), d)],
        topic="agent-events",
    )
    await asyncio.sleep(2)
    await pipeline.publish([now("contact.arrived", contact("c1", {"s": 1}, queue="ring"), d)])
    out = await pipeline.read_until(lambda o: len(of_type(o, "contact.assigned", d)) >= 2, timeout=30)
    first, second = (o["data"] for o in of_type(out, "contact.assigned", d)[:2])
    assert (first["agent_id"], second["agent_id"]) == ("ann", "bob")
    (timed_out,) = of_type(out, "contact.offer_timed_out", d)
    assert timed_out["data"]["agent_id"] == "ann" and timed_out["data"]["requeued"] is True
    assert second["trigger_event_id"].startswith(f"timer:{d}:")
    assert 2.0 <= second["waited_seconds"] < 10.0

    await pipeline.publish([now("contact.accepted", {"contact_id": "c1", "agent_id": "bob"}, d)])
    await asyncio.sleep(4)  # two more offer timeouts' worth: an accepted offer must not expire
    out = await pipeline.drain()
    assert len(of_type(out, "contact.offer_timed_out", d)) == 1
    assert len(of_type(out, "contact.assigned", d)) == 2


async def test_timed_wrap_up_holds_the_agent_then_hands_it_the_next_contact(pipeline: Pipeline) -> None:
    d = f"wrap-{uuid.uuid4().hex[:6]}"
    await pipeline.publish([now("agent.logged_in", agent_in("ann", {}), d)], topic="agent-events")
    await asyncio.sleep(2)
    await pipeline.publish(
        [now("contact.arrived", contact("w1", {}, queue="wrap"), d), now("contact.arrived", contact("w2", {}, queue="wrap"), d)]
    )
    await pipeline.read_until(lambda o: len(of_type(o, "contact.queued", d)) >= 1, timeout=30)
    ended = now("contact.ended", {"contact_id": "w1"}, d)
    await pipeline.publish([ended])
    out = await pipeline.read_until(lambda o: len(of_type(o, "contact.assigned", d)) >= 2, timeout=30)
    w2 = next(o["data"] for o in of_type(out, "contact.assigned", d) if o["data"]["contact_id"] == "w2")
    assert w2["agent_id"] == "ann" and w2["trigger_event_id"].startswith(f"timer:{d}:")
    assert w2["trigger_event_id"] != ended.id  # not handed over at the end: after wrap-up
