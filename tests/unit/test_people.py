"""The people's behaviour (shared by both simulators) and the workload's shifts, breaks, outages,
bursts and comebacks: pure and seeded."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from contact_router.contract import AgentLoggedIn, AgentLoggedOut, AgentState, AgentStateChanged
from contact_router.sim.offline import OfflineSimulator
from contact_router.sim.people import People
from contact_router.sim.scenario import Scenario
from contact_router.sim.workload import Arrival, Workload, from_scenario


def center(**changes: Any) -> Scenario:
    doc: dict[str, Any] = {
        "name": "t",
        "domains": ["d"],
        "hours": 4,
        "queues": [{"name": "q", "skills": {"s": 1}, "arrivals_per_hour": 120, "mean_handle_seconds": 60,
                    "mean_patience_seconds": 120}],
        "agents": [{"name": "a", "count": 4, "skills": {"s": [1, 5]}}],
    }
    return Scenario.model_validate(doc | changes)


def workload(**changes: Any) -> Workload:
    return from_scenario(center(**changes), random.Random(1))


def test_offers_are_answered_rejected_or_left_to_ring_in_the_scenarios_shares() -> None:
    people = People(workload(answer_share=0.7, reject_share=0.2, ring_seconds=2.0), random.Random(2))
    kinds = [people.respond(offer_timeout=None).kind for _ in range(10_000)]
    assert kinds.count("accept") == pytest.approx(7000, abs=250)
    assert kinds.count("reject") == pytest.approx(2000, abs=200)
    assert kinds.count("ring_out") == pytest.approx(1000, abs=150)


def test_an_answer_slower_than_the_offer_timeout_is_a_ring_out() -> None:
    people = People(workload(answer_share=1.0, ring_seconds=5.0), random.Random(3))
    responses = [people.respond(offer_timeout=4.0, margin=0.5) for _ in range(2000)]
    assert all(r.after < 3.5 for r in responses if r.kind == "accept")
    assert any(r.kind == "ring_out" for r in responses)  # P(ring >= 3.5 s) = exp(-0.7) ~ 0.5


def test_handle_time_depends_on_where_the_agent_works() -> None:
    arrival = workload(queues=[{"name": "q", "arrivals_per_hour": 60, "mean_handle_seconds": 100,
                                "mean_patience_seconds": 60, "home_handle_factor": 1.25}]).arrivals[0]
    office = People.handle_seconds(arrival, "office", transferred=False)
    assert office == arrival.handle_seconds
    assert People.handle_seconds(arrival, "home", transferred=False) == pytest.approx(1.25 * office)


def test_sentiment_starts_lower_after_a_long_wait_and_follows_its_drift() -> None:
    queue = {"name": "q", "arrivals_per_hour": 60, "mean_handle_seconds": 300, "mean_patience_seconds": 60,
             "sentiment": {"start": 0.5, "start_spread": 0, "drift_per_minute": -0.2, "drift_spread": 0,
                           "wait_penalty_per_minute": 0.3, "every_seconds": 60}}
    arrival = workload(queues=[queue]).arrivals[0]
    people = People(workload(), random.Random(4))
    quick = people.sentiment_updates(arrival, waited=0, handle=300)
    slow = people.sentiment_updates(arrival, waited=120, handle=300)
    assert [at for at, _ in quick] == [0, 60, 120, 180, 240]  # every minute while handled, none after
    assert quick[0][1] == pytest.approx(0.5, abs=0.2) and slow[0][1] == pytest.approx(-0.1, abs=0.2)
    assert quick[-1][1] < quick[0][1] - 0.4  # -0.2 a minute over four minutes
    long = people.sentiment_updates(arrival, waited=600, handle=3000)
    assert all(-1 <= score <= 1 for _, score in long) and long[-1][1] == -1


def test_customers_come_back_after_hanging_up_or_an_unresolved_end_not_after_a_resolved_one() -> None:
    queues = [
        {"name": "voice", "arrivals_per_hour": 100, "mean_handle_seconds": 60, "mean_patience_seconds": 60,
         "repeat_share": 1.0, "mean_repeat_after_seconds": 600, "hop_to": "chat", "hop_share": 0.5,
         "resolved_share": 0.5},
        {"name": "chat", "channel": "chat", "arrivals_per_hour": 1, "mean_handle_seconds": 60,
         "mean_patience_seconds": 60},
    ]
    arrivals = [a for a in workload(queues=queues).arrivals if a.event.queue == "voice"]
    first = arrivals[0]
    assert first.comeback is not None
    again = People.comes_back(first, "abandoned", finished_at=1000.0)
    assert again is not None and again.at == pytest.approx(1000.0 + first.comeback.after_seconds)
    assert again.event.customer_ref == first.event.customer_ref and again.event.contact_id != first.event.contact_id
    resolved = next(a for a in arrivals if a.resolved)
    unresolved = next(a for a in arrivals if not a.resolved)
    assert People.comes_back(resolved, "completed", 0.0) is None
    assert People.comes_back(unresolved, "completed", 0.0) is not None
    hops = [a.comeback.arrival for a in arrivals if a.comeback and a.comeback.arrival.kind == "hop"]
    assert 0.35 < len(hops) / len(arrivals) < 0.65 and all(h.event.queue == "chat" for h in hops)
    assert all(h.event.channel == "chat" for h in hops)


def _agent_timeline(w: Workload, agent_id: str) -> list[tuple[float, str]]:
    out = []
    for t, e in w.agent_events:
        if getattr(e, "agent_id", None) != agent_id:
            continue
        kind = {AgentLoggedIn: "in", AgentLoggedOut: "out"}.get(type(e)) or str(e.state)  # type: ignore[attr-defined]
        out.append((t, kind))
    return out


def test_breaks_fall_inside_shifts_and_take_the_expected_share_of_time() -> None:
    w = workload(hours=8, agents=[{"name": "a", "count": 50, "skills": {"s": [1, 5]}, "shift": [1, 7],
                                   "breaks": {"mean_every_minutes": 90, "mean_minutes": 10}}])
    away = 0.0
    for i in range(50):
        timeline = _agent_timeline(w, f"a-{i:04d}")
        assert timeline[0] == (3600.0, "in") and timeline[-1] == (7 * 3600.0, "out")
        states = [kind for _, kind in timeline[1:-1]]
        assert states == ["away", "available"] * (len(states) // 2)  # every break ends before logout
        away += sum(b[0] - a[0] for a, b in zip(timeline[1:-1:2], timeline[2:-1:2], strict=True))
    breaks = [e for _, e in w.agent_events if isinstance(e, AgentStateChanged) and e.state is AgentState.AWAY]
    assert all(e.reason == "break" for e in breaks)
    # About 10 / (90 + 10) of the time, less the breaks cut off by the end of the shift.
    assert 0.06 < away / (50 * 6 * 3600) < 0.11


def test_an_outage_logs_out_every_agent_with_the_skill_and_brings_them_back() -> None:
    w = workload(
        agents=[{"name": "billing", "count": 3, "skills": {"s": [1, 5], "billing": [1, 3]}},
                {"name": "other", "count": 2, "skills": {"s": [1, 5]}}],
        timeline=[{"at_hours": 1, "action": "log_out", "skill": "billing"},
                  {"at_hours": 2.5, "action": "log_in", "skill": "billing"}],
    )
    for i in range(3):
        assert _agent_timeline(w, f"billing-{i:04d}") == [(0, "in"), (3600, "out"), (9000, "in"), (14400, "out")]
    for i in range(2):
        assert _agent_timeline(w, f"other-{i:04d}") == [(0, "in"), (14400, "out")]


def test_a_burst_multiplies_the_arrival_rate_for_its_window_only() -> None:
    w = workload(hours=3, bursts=[{"at_hours": 1, "minutes": 60, "factor": 4}])
    per_hour = [sum(1 for a in w.arrivals if h * 3600 <= a.at < (h + 1) * 3600) for h in range(3)]
    assert 80 < per_hour[0] < 160 and 80 < per_hour[2] < 160
    assert 380 < per_hour[1] < 580


def test_the_offline_simulator_plays_rejections_sentiment_breaks_and_comebacks_and_loses_no_contact() -> None:
    scenario = center(
        hours=6,
        answer_share=0.8,
        reject_share=0.1,
        ring_seconds=2,
        routing={"default": {"offer_timeout_seconds": 10, "max_missed_offers": 100}},
        queues=[{"name": "q", "skills": {"s": 1}, "arrivals_per_hour": 150, "mean_handle_seconds": 60,
                 "mean_patience_seconds": 90, "resolved_share": 0.7, "repeat_share": 0.5,
                 "mean_repeat_after_seconds": 300, "sentiment": {"every_seconds": 20}}],
        agents=[{"name": "a", "count": 4, "skills": {"s": [1, 5]},
                 "breaks": {"mean_every_minutes": 60, "mean_minutes": 5}}],
    )
    lines: list[bytes] = []
    report = OfflineSimulator.from_scenario(scenario, seed=3, record=lines).run()
    total = report.total
    assert total["rejected_offers"] > 0 and total["repeats"] > 0
    assert total["offered"] == total["answered"] + total["abandoned"] + total["expired"] + total["open_at_end"]
    types = [orjson.loads(line)["type"] for line in lines]
    for kind in ("contact.rejected", "contact.sentiment", "agent.state_changed", "contact.offer_timed_out"):
        assert kind in types, kind
    refs = [orjson.loads(line)["data"].get("customer_ref") for line in lines if b'"contact.arrived"' in line]
    assert len(refs) - len(set(refs)) == total["repeats"]  # a repeat is the same customer again
    first, second = report.as_dict(), OfflineSimulator.from_scenario(scenario, seed=3).run().as_dict()
    assert first == second


def test_arrival_defaults_keep_a_plain_contact_plain() -> None:
    arrival = workload().arrivals[0]
    assert isinstance(arrival, Arrival) and arrival.kind == "first" and arrival.comeback is None
    assert arrival.mood is None and arrival.resolved


def test_the_online_simulator_plays_the_same_workload_under_its_own_ids() -> None:
    from contact_router.settings import Settings
    from contact_router.sim.platform import PlatformSimulator

    scenario = center(
        domains=["x", "y"],
        hours=1,
        queues=[{"name": "q", "arrivals_per_hour": 100, "mean_handle_seconds": 60, "mean_patience_seconds": 60,
                 "repeat_share": 1.0}],
    )
    sim = PlatformSimulator(scenario, Settings(), seed=5, duration=1.5 * 3600, run_id="r1", on_summary=None)
    assert sim.end == 1.5 * 3600 and sim.horizon == 3600
    sim._schedule_period(0)  # noqa: SLF001 - the schedule is what this test checks
    arrivals = [p for _, _, kind, p in sim._heap if kind == "arrive"]  # noqa: SLF001
    ids = [a.event.contact_id for _, a in arrivals]
    assert len(ids) == len(set(ids)) and all(i.startswith("c-r1-") for i in ids)
    assert {d for d, _ in arrivals} == {"x-r1", "y-r1"}
    again = [a.comeback.arrival for _, a in arrivals if a.comeback]
    assert again and all(c.event.contact_id.startswith("c-r1-") and c.event.customer_ref.startswith("r1-") for c in again)
    periods = [p for t, _, kind, p in sim._heap if kind == "period"]  # noqa: SLF001
    assert periods == [1]  # a second period starts at 1 h, since the run lasts 1.5 h
