"""Early warnings through the real pipeline: alerts on the escalation-alerts topic, from events and
from the worker's timers, firing then resolved under one alert id."""

from __future__ import annotations

import pytest

from tests.e2e.pipeline import Pipeline, of_type
from tests.e2e.test_routing_features import agents, domain
from tests.e2e.test_timers import now
from tests.factories import agent_in, contact

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def alerts(outputs: list[dict], d: str) -> list[tuple[str, str, str]]:
    return [(o["data"]["kind"], o["data"]["subject"]["id"], o["data"]["status"]) for o in of_type(outputs, "escalation.alert", d)]


async def test_customer_history_and_waiting_alerts_fire_and_resolve(pipeline: Pipeline) -> None:
    d = domain("warn")
    await agents(pipeline, d, agent_in("ann", {}))
    await pipeline.publish([now("contact.arrived", contact("c1", {}, customer_ref="cust-1"), d)])
    await pipeline.publish([now("contact.ended", {"contact_id": "c1", "csat": 1}, d)])
    await pipeline.publish([now("contact.arrived", contact("c2", {}, customer_ref="cust-1"), d)])  # ann takes it
    await pipeline.publish([now("contact.arrived", contact("c3", {}), d)])  # waits: ann is busy
    # c3 waits 16 s (80% of the 20 s threshold): the worker's timer raises contact_waiting_long.
    both = ("routing-decisions", "escalation-alerts")
    out = await pipeline.read_until(lambda o: ("contact_waiting_long", "c3", "firing") in alerts(o, d), 60, both)
    assert {("repeat_contact", "c2", "firing"), ("previous_csat_low", "c2", "firing")} <= set(alerts(out, d))
    await pipeline.publish([now("contact.ended", {"contact_id": "c2"}, d)])  # ann is free: c3 is answered
    out = await pipeline.read_until(lambda o: ("contact_waiting_long", "c3", "resolved") in alerts(o, d), 30, both)
    fired = {o["data"]["alert_id"] for o in of_type(out, "escalation.alert", d) if o["data"]["status"] == "firing"}
    resolved = [o for o in of_type(out, "escalation.alert", d) if o["data"]["status"] == "resolved"]
    assert {o["data"]["alert_id"] for o in resolved} <= fired
    assert {("repeat_contact", "c2"), ("previous_csat_low", "c2"), ("contact_waiting_long", "c3")} <= {
        (o["data"]["kind"], o["data"]["subject"]["id"]) for o in resolved
    }
    assert all(o["_key"] == d for o in of_type(out, "escalation.alert", d))  # keyed by domain, as decisions
