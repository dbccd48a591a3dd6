"""The offline simulator: deterministic, conserves contacts, and agrees with queueing theory."""

from __future__ import annotations

import math
from pathlib import Path

import orjson
import pytest

from contact_router.sim.offline import OfflineSimulator
from contact_router.sim.scenario import Scenario, load_scenario
from tests.factories import transfers_scenario

ROOT = Path(__file__).resolve().parents[2]


def erlang_c_service_level(calls_per_hour: float, aht: float, agents: int, threshold: float) -> float:
    """Textbook Erlang C: P(wait <= threshold) for M/M/c, written here independently of the product."""
    a = calls_per_hour * aht / 3600.0
    top = a**agents / math.factorial(agents) * agents / (agents - a)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(agents)) + top)
    return 1.0 - p_wait * math.exp(-(agents - a) * threshold / aht)


def one_queue(agents: int, *, hours: float = 150.0, patience: float = 1e9) -> Scenario:
    return Scenario.model_validate(
        {
            "name": "mmc",
            "domains": ["d"],
            "hours": hours,
            "queues": [
                {
                    "name": "q",
                    "arrivals_per_hour": 200,
                    "mean_handle_seconds": 180,
                    "handle_distribution": "exponential",
                    "mean_patience_seconds": patience,
                }
            ],
            "agents": [{"name": "a", "count": agents, "skills": {}}],
        }
    )


def test_service_level_matches_erlang_c_for_an_m_m_c_queue() -> None:
    # The published example: 100 calls per 30 minutes, AHT 180 s, 80/20 target: 14 agents, SL 0.888.
    expected = erlang_c_service_level(200, 180, 14, 20)
    assert expected == pytest.approx(0.888, abs=0.001)
    report = OfflineSimulator.from_scenario(one_queue(14), seed=3).run()
    assert report.total["abandoned"] == 0
    assert report.total["service_level_20s"] == pytest.approx(expected, abs=0.02)
    assert report.occupancy["mean"] == pytest.approx(10 / 14, abs=0.02)


def test_fewer_agents_give_a_worse_service_level_and_more_abandonment() -> None:
    staffed = OfflineSimulator.from_scenario(one_queue(14, hours=20, patience=120), seed=1).run().total
    short = OfflineSimulator.from_scenario(one_queue(11, hours=20, patience=120), seed=1).run().total
    assert short["service_level_20s"] < staffed["service_level_20s"] - 0.1
    assert short["abandonment_rate"] > staffed["abandonment_rate"] + 0.05


@pytest.mark.parametrize("name", ["demo.yaml", "bank-day.yaml"])
def test_shipped_scenarios_run_deterministically_and_lose_no_contact(name: str) -> None:
    scenario = load_scenario(ROOT / "scenarios" / name)
    first, second = OfflineSimulator.from_scenario(scenario, seed=5).run(), OfflineSimulator.from_scenario(scenario, seed=5).run()
    assert first.as_dict() == second.as_dict()
    for q in [*first.queues.values(), first.total]:
        assert q["offered"] == q["answered"] + q["abandoned"] + q["expired"]
        assert q["open_at_end"] == 0
    assert first.occupancy["max"] <= 1.0


def test_a_replayed_day_offers_exactly_that_days_calls() -> None:
    report = OfflineSimulator.from_scenario(load_scenario(ROOT / "scenarios" / "bank-day.yaml"), seed=1).run()
    # 1999-03-15 in the real data: 1,706 calls in whole numbers.
    assert report.total["offered"] == 1706 and report.simulated_hours == 24


def test_offers_that_ring_out_are_re_offered_and_every_contact_still_accounted_for() -> None:
    scenario = Scenario.model_validate(
        one_queue(14, hours=10, patience=300).model_dump()
        | {
            "answer_share": 0.8,
            "ring_seconds": 4.0,
            "routing": {"default": {"offer_timeout_seconds": 10, "max_missed_offers": 100}},
        }
    )
    offers = OfflineSimulator.from_scenario(scenario, seed=2).run()
    auto = OfflineSimulator.from_scenario(one_queue(14, hours=10, patience=300), seed=2).run()
    total = offers.total
    assert total["offered"] == total["answered"] + total["abandoned"] + total["expired"] + total["open_at_end"]
    # Ringing and ring-outs cost answer time: a worse service level than auto-answer.
    assert total["service_level_20s"] < auto.total["service_level_20s"]
    assert offers.occupancy["max"] <= 1.0


def test_relaxation_runs_on_the_simulators_timers_and_shortens_waits() -> None:
    strict = Scenario.model_validate(
        {
            "name": "two-groups",
            "domains": ["d"],
            "hours": 20,
            "queues": [
                {"name": "expert", "skills": {"x": 4}, "arrivals_per_hour": 60, "mean_handle_seconds": 240,
                 "mean_patience_seconds": 1e9},
            ],
            "agents": [
                {"name": "experts", "count": 5, "skills": {"x": [4, 5]}},
                {"name": "juniors", "count": 5, "skills": {"x": [2, 2]}},
            ],
        }
    )
    relaxed = Scenario.model_validate(
        strict.model_dump() | {"routing": {"default": {"relaxation": [{"after_seconds": 10, "lower_levels_by": 2}]}}}
    )
    before = OfflineSimulator.from_scenario(strict, seed=4).run().total
    after = OfflineSimulator.from_scenario(relaxed, seed=4).run().total
    assert after["asa_seconds"] < before["asa_seconds"] / 2
    assert after["mean_proficiency"] < before["mean_proficiency"]  # the price: juniors take some


def test_a_half_hour_profile_shapes_the_arrivals() -> None:
    import random

    from contact_router.sim.arrivals import poisson_arrivals

    queue = one_queue(1).queues[0]  # 200 calls an hour
    arrivals = poisson_arrivals([queue], 2.0, random.Random(1), profile=[0.0, 1.0, 3.0, 0.5])
    per_half_hour = [sum(1 for t, _ in arrivals if k * 1800 <= t < (k + 1) * 1800) for k in range(4)]
    assert per_half_hour[0] == 0
    assert 70 <= per_half_hour[1] <= 130 and 250 <= per_half_hour[2] <= 350 and 30 <= per_half_hour[3] <= 70


def test_transfers_are_handled_again_in_their_target_queue_and_reported() -> None:
    scenario = Scenario.model_validate(transfers_scenario(hours=10))
    report = OfflineSimulator.from_scenario(scenario, seed=6).run()
    front, back = report.queues["front"], report.queues["back"]
    assert 0.2 < front["transfer_rate"] < 0.4
    # Shifts end at the horizon: a contact transferred in the last minutes may find nobody left.
    assert back["offered"] >= front["transferred"] and back["answered"] >= back["offered"] - 2
    for q in (front, back, report.total):
        assert q["offered"] == q["answered"] + q["abandoned"] + q["expired"] + q["open_at_end"]


def test_a_transfer_must_name_a_queue_of_the_scenario() -> None:
    with pytest.raises(ValueError, match="transfer_to"):
        Scenario.model_validate(
            {"name": "x", "domains": ["d"], "agents": [{"name": "a", "count": 1, "skills": {}}],
             "queues": [{"name": "q", "arrivals_per_hour": 1, "mean_handle_seconds": 1, "mean_patience_seconds": 1,
                         "transfer_share": 0.5, "transfer_to": "nowhere"}]}
        )


def test_callbacks_keep_customers_who_would_have_hung_up_and_preferred_agents_are_honoured() -> None:
    def center(callback_share: float, preferred_share: float) -> Scenario:
        return Scenario.model_validate(
            {
                "name": "impatient",
                "domains": ["d"],
                "hours": 8,
                "routing": {"default": {"preferred_agent_seconds": 20}},
                "queues": [
                    {"name": "q", "arrivals_per_hour": 230, "mean_handle_seconds": 180, "mean_patience_seconds": 60,
                     "callback_share": callback_share, "preferred_agent_share": preferred_share}
                ],
                "agents": [{"name": "a", "count": 12, "skills": {}}],
            }
        )

    plain = OfflineSimulator.from_scenario(center(0.0, 0.0), seed=9).run().total
    lines: list[bytes] = []
    kept = OfflineSimulator.from_scenario(center(0.5, 0.0), seed=9, record=lines).run().total
    # Fewer hang up, though not half as many: at 96% load, callbacks keep their place and lengthen
    # everyone else's wait. Every callback is answered (or still open when the run ends).
    assert kept["callbacks"] > 0 and kept["abandonment_rate"] < plain["abandonment_rate"]
    assert kept["offered"] == kept["answered"] + kept["abandoned"] + kept["expired"] + kept["open_at_end"]
    answered_callbacks = [line for line in lines if b'"contact.assigned"' in line and b'"callback":true' in line]
    assert len(answered_callbacks) + kept["open_at_end"] >= kept["callbacks"]

    lines = []
    OfflineSimulator.from_scenario(center(0.0, 0.3), seed=9, record=lines).run()
    docs = [orjson.loads(line) for line in lines]
    preferred = {
        d["data"]["contact_id"]: d["data"]["preferred_agent_id"]
        for d in docs
        if d["type"] == "contact.arrived" and d["data"].get("preferred_agent_id")
    }
    assigned = [d["data"] for d in docs if d["type"] == "contact.assigned" and d["data"]["contact_id"] in preferred]
    assert preferred  # about 30% of contacts name an agent ...
    to_preferred = [a for a in assigned if preferred[a["contact_id"]] == a["agent_id"]]
    # ... and get that agent far more often than chance (1 in 12), though at this load the agent is
    # often still on a 3-minute call when the 20 s window ends.
    assert len(to_preferred) / len(preferred) > 2 / 12
