"""The early-warning detectors, on the pure core: each fires when it should, once, and resolves."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from contact_router.alerts.kpis import Abandoned, Answered, Finished
from contact_router.alerts.state import alert_key
from contact_router.core import Engine
from contact_router.routing.config import RoutingConfig
from contact_router.service import RoutingService, SourceRecord
from contact_router.state import InMemoryStore
from tests.factories import PSEUDONYMS, WatchedDomain, agent_in, contact, envelope

# Service level 80% within 20 s; alerts evaluated every 30 s.
CONFIG = RoutingConfig.model_validate({"default": {"service_level_seconds": 20, "expected_handle_seconds": 120}})


def test_a_waiting_contact_is_flagged_at_its_share_of_the_threshold_and_resolved_when_answered() -> None:
    d = WatchedDomain(CONFIG)
    d.send("agent.logged_in", agent_in("a1", {}, state="away"))
    d.send("contact.arrived", contact("c1", {}), at=0)
    d.run_timers(until=15.9)
    assert ("contact_waiting_long", "c1") not in d.firing()
    d.run_timers(until=16)  # 0.8 x 20 s
    (alert,) = d.raised("contact_waiting_long")
    assert alert.subject.queue == "general" and alert.evidence["waited_seconds"] == 16 and alert.severity == "warning"
    d.send("agent.state_changed", {"agent_id": "a1", "state": "available"}, at=25)
    resolved = [a for a in d.alerts if a.kind == "contact_waiting_long" and a.status == "resolved"]
    assert [a.alert_id for a in resolved] == [alert.alert_id]
    assert ("contact_waiting_long", "c1") not in d.firing()


def test_a_breach_is_predicted_on_arrival_from_place_in_queue_staffing_and_handle_time() -> None:
    d = WatchedDomain(CONFIG)
    d.send("agent.logged_in", agent_in("a1", {}))
    d.send("agent.logged_in", agent_in("a2", {}))
    for i in range(2):
        d.send("contact.arrived", contact(f"busy{i}", {}), at=0)
    d.send("contact.arrived", contact("c1", {}), at=1)  # 1st in line: 1 x 120 s / 2 agents = 60 s > 20 s
    (alert,) = d.raised("contact_breach_predicted")
    assert alert.subject.id == "c1"
    assert alert.evidence == {"expected_wait_seconds": 60.0, "position": 1, "servers": 2}


def test_no_breach_is_predicted_when_agents_free_up_fast_enough() -> None:
    config = RoutingConfig.model_validate({"default": {"service_level_seconds": 20, "expected_handle_seconds": 10}})
    d = WatchedDomain(config)
    d.send("agent.logged_in", agent_in("a1", {}))
    d.send("contact.arrived", contact("busy", {}), at=0)
    d.send("contact.arrived", contact("c1", {}), at=1)  # 10 s expected
    assert d.raised("contact_breach_predicted") == []


def test_repeat_contact_channel_hop_and_a_low_previous_csat_come_from_the_customer_history() -> None:
    d = WatchedDomain(CONFIG)
    d.send("agent.logged_in", agent_in("a1", {}, capacity={"voice": 1, "chat": 1}))
    d.send("contact.arrived", contact("c1", {}, customer_ref="cust-9"), at=0)
    d.send("contact.ended", {"contact_id": "c1", "csat": 1, "resolved": False}, at=100)
    d.send("contact.arrived", contact("c2", {}, customer_ref="cust-9", channel="chat", queue="chat"), at=200)
    assert {(a.kind, a.subject.id) for a in d.alerts if a.status == "firing"} == {
        ("channel_hop", "c2"),
        ("previous_csat_low", "c2"),
    }
    d.send("contact.arrived", contact("c3", {}, customer_ref="cust-9"), at=300)
    (repeat,) = d.raised("repeat_contact")
    assert repeat.subject.id == "c3" and repeat.evidence == {"since_seconds": 300.0}
    d.send("contact.arrived", contact("c4", {}, customer_ref="someone-else"), at=301)
    assert not any(a.subject.id == "c4" and a.kind in {"repeat_contact", "channel_hop", "previous_csat_low"} for a in d.alerts)


def test_sentiment_low_and_falling_fast() -> None:
    d = WatchedDomain(CONFIG)
    d.send("agent.logged_in", agent_in("a1", {}))
    d.send("contact.arrived", contact("c1", {}), at=0)
    d.send("contact.sentiment", {"contact_id": "c1", "score": 0.5}, at=10)
    d.send("contact.sentiment", {"contact_id": "c1", "score": 0.2}, at=20)
    assert d.alerts == []
    d.send("contact.sentiment", {"contact_id": "c1", "score": -0.4}, at=50)  # -0.6 in 30 s
    assert [a.kind for a in d.alerts] == ["sentiment_falling"]
    d.send("contact.sentiment", {"contact_id": "c1", "score": -0.7}, at=60)
    assert [a.kind for a in d.alerts] == ["sentiment_falling", "sentiment_low"]
    d.send("contact.ended", {"contact_id": "c1"}, at=90)
    assert {a.kind for a in d.alerts if a.status == "resolved"} == {"sentiment_falling", "sentiment_low"}
    assert d.state.alerts == {}


def test_many_holds_and_many_transfers() -> None:
    d = WatchedDomain(CONFIG)
    for a in ("a1", "a2", "a3"):
        d.send("agent.logged_in", agent_in(a, {}))
    d.send("contact.arrived", contact("c1", {}), at=0)
    for i in range(3):
        d.send("contact.held", {"contact_id": "c1"}, at=1 + 2 * i)
        d.send("contact.resumed", {"contact_id": "c1"}, at=2 + 2 * i)
    assert [(a.kind, a.evidence) for a in d.alerts] == [("many_holds", {"holds": 3})]
    d.send("contact.transferred", {"contact_id": "c1", "to_queue": "other"}, at=10)
    assert len(d.alerts) == 1
    d.send("contact.transferred", {"contact_id": "c1", "to_queue": "general"}, at=20)
    assert [a.kind for a in d.alerts][-1] == "many_transfers"


def test_queue_service_level_projected_below_target_warns_and_resolves() -> None:
    d = WatchedDomain(CONFIG)
    d.send("agent.logged_in", agent_in("a1", {}))
    for i in range(12):  # one agent, 12 contacts at once: most will wait far past 20 s
        d.send("contact.arrived", contact(f"c{i}", {}), at=7 + i)
    d.run_timers(until=599)
    assert d.raised("sla_at_risk") == []  # the first 10 minutes of a half hour are not judged
    d.run_timers(until=630)
    (alert,) = d.raised("sla_at_risk")
    assert alert.subject.kind == "queue" and alert.subject.id == "general" and alert.severity == "warning"
    assert alert.evidence["projected_upper"] < 0.8 and alert.evidence["waiting"] == 11
    # Judged on the 30 s grid, not 30 s after whichever event came last: at 10:00 exactly.
    assert d.state.alerts[alert_key("sla_at_risk", "queue", "general")].fired_at == d.start + 600
    stats = d.state.queues["general"]
    assert stats.projected_service_level is not None and stats.staffed == 1
    # Plenty of agents arrive: the backlog drains. The warning is about this half hour: it resolves
    # when the half hour ends, and the next one (all answered at once) is not warned.
    for i in range(20):
        d.send("agent.logged_in", agent_in(f"b{i}", {}), at=700)
    for i in range(12, 30):
        d.send("contact.arrived", contact(f"c{i}", {}), at=1800 + 30 * i)
    d.run_timers(until=1800 * 2)
    assert [a.status for a in d.alerts if a.kind == "sla_at_risk"] == ["firing", "resolved"]


def test_no_staffed_agent_for_the_queue_pages() -> None:
    d = WatchedDomain(CONFIG)
    d.send("agent.logged_in", agent_in("a1", {"billing": 3}))
    d.send("contact.arrived", contact("c1", {"mortgages": 2}, queue="mortgages"), at=0)
    d.run_timers(until=31)
    (alert,) = d.raised("no_staffed_agent")
    assert alert.severity == "page" and alert.subject.id == "mortgages"


def test_understaffed_against_erlang_c_and_abandonment_high() -> None:
    d = WatchedDomain(CONFIG)
    d.send("agent.logged_in", agent_in("a1", {}))
    for i in range(30):  # 30 arrivals in 5 minutes with AHT 120 s: Erlang C wants more than 1 agent
        d.send("contact.arrived", contact(f"c{i}", {}), at=i * 10)
    for i in range(1, 12):
        d.send("contact.abandoned", {"contact_id": f"c{i}"}, at=300 + i)
    d.run_timers(until=331)
    (understaffed,) = d.raised("understaffed")
    assert understaffed.evidence["staffed"] == 1 and understaffed.evidence["required"] > 1
    (abandonment,) = d.raised("abandonment_high")
    assert abandonment.evidence["offered"] == 12 and abandonment.evidence["abandonment"] == pytest.approx(11 / 12, abs=1e-4)


class FlatForecast:
    def expected(self, at: float) -> float:
        return 30.0  # per half hour


def forecast_domain() -> WatchedDomain:
    """A queue forecast at 30 contacts a half hour, with 20 agents to serve it."""
    d = WatchedDomain(CONFIG, forecasts={"general": FlatForecast()})
    for i in range(20):
        d.send("agent.logged_in", agent_in(f"a{i}", {}))
    return d


def test_arrivals_above_forecast() -> None:
    d = forecast_domain()
    start = d.state.queues.get("general")
    assert start is None
    for i in range(30):  # the whole half hour's forecast within ~5 minutes
        d.send("contact.arrived", contact(f"c{i}", {}), at=i * 10)
    d.run_timers(until=600)
    (alert,) = d.raised("arrivals_above_forecast")
    assert alert.evidence["arrivals"] == 30 and alert.evidence["ratio"] > 1.25


def test_arrivals_above_forecast_are_not_judged_in_a_half_hour_s_first_minutes() -> None:
    d = forecast_domain()
    for i in range(60):  # twice the forecast, all half hour long; then nothing
        d.send("contact.arrived", contact(f"c{i}", {}), at=i * 30)
    d.run_timers(until=1800 + 299)
    # The new half hour's first minutes say nothing yet: the surge alert neither resolves nor flaps.
    assert [a.status for a in d.alerts if a.kind == "arrivals_above_forecast"] == ["firing"]
    d.run_timers(until=1800 + 300)
    assert [a.status for a in d.alerts if a.kind == "arrivals_above_forecast"] == ["firing", "resolved"]


def test_agent_handle_time_far_above_the_queue_norm_and_missed_offers() -> None:
    config = RoutingConfig.model_validate({"default": {"expected_handle_seconds": 120, "offer_timeout_seconds": 10,
                                                       "max_missed_offers": 1}})  # fmt: skip
    d = WatchedDomain(config)
    d.send("agent.logged_in", agent_in("a1", {}))
    d.send("agent.logged_in", agent_in("a2", {}))
    d.send("contact.arrived", contact("c1", {}), at=0)
    d.send("contact.accepted", {"contact_id": "c1", "agent_id": "a1"}, at=1)
    d.run_timers(until=299)  # 2 x 120 s = 240 s, but at least 300 s from the assignment
    assert d.raised("handle_time_high") == []
    d.run_timers(until=300)
    (alert,) = d.raised("handle_time_high")
    assert alert.subject.kind == "agent" and alert.subject.id == "a1" and alert.subject.queue == "general"
    d.send("contact.ended", {"contact_id": "c1"}, at=400)
    d.run_timers(until=401)
    assert [a.status for a in d.alerts if a.kind == "handle_time_high"] == ["firing", "resolved"]
    d.send("contact.arrived", contact("c2", {}), at=500)
    offered_to = d.state.contacts["c2"].agent_id
    d.run_timers(until=511)  # the offer rings out: one missed offer pauses the agent
    (missed,) = d.raised("missed_offers")
    assert missed.subject.id == offered_to
    d.send("agent.state_changed", {"agent_id": offered_to, "state": "available"}, at=520)
    assert [a.status for a in d.alerts if a.kind == "missed_offers"] == ["firing", "resolved"]


def test_queue_alerts_cool_down_before_firing_again() -> None:
    d = WatchedDomain(CONFIG)
    d.send("agent.logged_in", agent_in("a1", {"billing": 1}))
    d.send("contact.arrived", contact("c1", {"x": 1}, queue="q"), at=0)
    d.run_timers(until=31)
    d.send("agent.logged_in", agent_in("a2", {"x": 1}, state="away"), at=40)
    d.run_timers(until=61)
    d.send("agent.logged_out", {"agent_id": "a2"}, at=70)
    d.run_timers(until=500)  # within the 600 s cooldown: not again
    assert [a.status for a in d.alerts if a.kind == "no_staffed_agent"] == ["firing", "resolved"]
    d.run_timers(until=700)
    assert [a.status for a in d.alerts if a.kind == "no_staffed_agent"] == ["firing", "resolved", "firing"]


def test_alert_ids_are_the_same_when_the_events_are_replayed() -> None:
    def run() -> list[tuple[str, str]]:
        d = WatchedDomain(CONFIG)
        d.send("agent.logged_in", agent_in("a1", {}))
        for i in range(12):
            d.send("contact.arrived", contact(f"c{i}", {}), at=i)
        d.run_timers(until=200)
        return [(a.alert_id, a.status) for a in d.alerts]

    first = run()
    assert first and first == run()


def test_alert_ids_differ_between_domains_with_the_same_subjects_at_the_same_time() -> None:
    """Consumers dedupe by id: two domains' alerts about a contact "c1" must not share one."""
    service = RoutingService(InMemoryStore(), pseudonyms=PSEUDONYMS, engine=Engine(CONFIG))
    published: dict[str, list[dict[str, Any]]] = {}
    for domain in ("bank", "bank-2"):
        for offset, (type_, data) in enumerate([
            ("agent.logged_in", agent_in("a1", {})),
            ("contact.arrived", contact("busy", {})),
            ("contact.arrived", contact("c1", {})),  # 1st in line behind 120 s of work: a breach predicted
        ]):
            env = envelope(type_, data, domain=domain, at=1.0, id_=f"{domain}-{offset}")
            record = SourceRecord("contact-events", 0, offset, domain.encode(), env.to_bytes(), env.timestamp)
            processed = asyncio.run(service.process(record))
            published.setdefault(domain, []).extend(
                orjson.loads(out.value) for out in processed.outputs if out.topic == "escalation-alerts"
            )
    bank, other = ([(a["id"], a["data"]["alert_id"]) for a in published[d]] for d in ("bank", "bank-2"))
    assert len(bank) == len(other) == 1
    assert bank[0][0] != other[0][0] and bank[0][1] != other[0][1]
    assert [a["data"]["subject"]["id"] for a in published["bank"] + published["bank-2"]] == ["c1", "c1"]


def test_kpi_facts_answer_abandon_and_finish() -> None:
    config = RoutingConfig.model_validate({"default": {"service_level_seconds": 20, "wrap_up_seconds": 5}})
    d = WatchedDomain(config)
    d.send("agent.logged_in", agent_in("a1", {}, location="home"))
    d.send("contact.arrived", contact("c1", {}, customer_ref="r1"), at=0)
    d.send("contact.arrived", contact("c2", {}), at=0)
    d.send("contact.arrived", contact("c3", {}), at=0)
    d.send("contact.abandoned", {"contact_id": "c3"}, at=5)
    d.send("contact.ended", {"contact_id": "c1", "csat": 4}, at=60)
    d.run_timers(until=66)  # wrap-up over: a1 takes c2, 65 s after it arrived
    answered = [f for f in d.facts if isinstance(f, Answered)]
    assert [(f.waited_seconds, f.within_threshold) for f in answered] == [(0.0, True), (65.0, False)]
    assert [f.waited_seconds for f in d.facts if isinstance(f, Abandoned)] == [5.0]
    (finished,) = [f for f in d.facts if isinstance(f, Finished)]
    assert (finished.handle_seconds, finished.location, finished.csat, finished.first_contact_resolution) == (
        65.0, "home", 4, True,
    )  # fmt: skip
    counts = d.state.queues["general"].current
    assert (counts.arrived, counts.answered, counts.met, counts.abandoned) == (3, 2, 1, 1)
