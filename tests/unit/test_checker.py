"""The promise checker without I/O: a run of the real engine (offline simulator) passes; each kind of
broken promise, planted in that run's decisions, is counted."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from contact_router.checker import replay
from contact_router.contract.events import INPUT_TYPES
from contact_router.sim.offline import OfflineSimulator
from contact_router.sim.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[2]

TRANSFERS = {
    "name": "transfers",
    "domains": ["d"],
    "hours": 2,
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


def recorded(scenario: Scenario) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """One offline run: its inputs, its routing decisions in order, and how many contacts it left open."""
    record: list[bytes] = []
    report = OfflineSimulator.from_scenario(scenario, seed=3, record=record).run()
    docs = [orjson.loads(line) for line in record]
    inputs = [d for d in docs if d["type"] in INPUT_TYPES]
    decisions = [d for d in docs if d["type"] not in INPUT_TYPES and d["type"] != "escalation.alert"]
    return inputs, decisions, report.total["open_at_end"]


@pytest.fixture(scope="module")
def demo() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    scenario = load_scenario(ROOT / "scenarios" / "demo.yaml")
    inputs, decisions, open_at_end = recorded(scenario.model_copy(update={"hours": 0.2}))
    assert open_at_end == 0
    return inputs, decisions


def first(decisions: list[dict[str, Any]], type_: str) -> int:
    return next(i for i, d in enumerate(decisions) if d["type"] == type_)


def test_the_engines_own_runs_keep_every_promise(demo) -> None:  # noqa: ANN001
    inputs, decisions = demo
    report = replay(inputs, decisions)
    assert report.promises_kept, report.render()
    arrived = sum(1 for e in inputs if e["type"] == "contact.arrived")
    assert report.arrived == arrived == sum(report.closed.values()) and report.domains == 1
    assert report.assignments == sum(1 for d in decisions if d["type"] == "contact.assigned")
    assert report.closed["abandoned"] > 0 and report.without_outcome == 0

    inputs, decisions, open_at_end = recorded(Scenario.model_validate(TRANSFERS))  # transfers release silently
    assert any(e["type"] == "contact.transferred" for e in inputs)
    report = replay(inputs, decisions)
    assert (report.over_capacity, report.overlapping, report.conflicting) == (0, 0, 0), report.render()
    assert report.without_outcome == open_at_end  # open when the simulated day ended


def test_redelivered_decisions_are_counted_not_blamed(demo) -> None:  # noqa: ANN001
    inputs, decisions = demo
    again = decisions[:400] + decisions[100:200] + decisions[400:]
    report = replay(inputs, again)
    assert report.promises_kept and report.reemitted == 100


def test_one_id_with_two_contents_is_a_conflict(demo) -> None:  # noqa: ANN001
    inputs, decisions = demo
    i = first(decisions, "contact.assigned")
    changed = copy.deepcopy(decisions[i])
    changed["data"]["agent_id"] = "someone-else"
    report = replay(inputs, [*decisions, changed])
    assert report.conflicting == 1 and not report.promises_kept


def test_an_assignment_past_capacity_is_found(demo) -> None:  # noqa: ANN001
    inputs, decisions = demo
    i = first(decisions, "contact.assigned")
    extra = copy.deepcopy(decisions[i])  # the same voice agent (capacity 1), a second contact at once
    extra["id"] = extra["data"]["decision_id"] = "planted:0"
    extra["data"]["contact_id"] = "planted"
    report = replay(inputs, decisions[: i + 1] + [extra] + decisions[i + 1 :])
    # Every later assignment of that agent is over too: the planted contact never ends.
    assert report.over_capacity >= 1 and not report.promises_kept
    assert replay(inputs, decisions).over_capacity == 0


def test_a_contact_assigned_twice_at_once_overlaps(demo) -> None:  # noqa: ANN001
    inputs, decisions = demo
    i = first(decisions, "contact.assigned")
    twice = copy.deepcopy(decisions[i])
    twice["id"] = twice["data"]["decision_id"] = "planted:0"
    twice["data"]["agent_id"] = "chat-team-0000"
    twice["data"]["channel"] = "chat"
    report = replay(inputs, decisions[: i + 1] + [twice] + decisions[i + 1 :])
    assert report.overlapping == 1 and not report.promises_kept, report.render()


def test_a_contact_never_closed_has_no_outcome_and_one_closed_twice_is_found(demo) -> None:  # noqa: ANN001
    inputs, decisions = demo
    i = first(decisions, "contact.closed")
    report = replay(inputs, decisions[:i] + decisions[i + 1 :])
    assert report.without_outcome == report.lost == 1 and not report.promises_kept
    again = copy.deepcopy(decisions[i])
    again["id"] = again["data"]["decision_id"] = "planted:0"
    report = replay(inputs, [*decisions, again])
    assert report.closed_twice == 1 and not report.promises_kept


def test_a_rejected_offer_releases_its_agent_and_a_dead_lettered_arrival_is_not_expected() -> None:
    def env(id_: str, type_: str, **data: Any) -> dict[str, Any]:
        return {"id": id_, "type": type_, "domain": "d", "data": data}

    def assigned(id_: str, contact: str, agent: str, trigger: str) -> dict[str, Any]:
        return env(id_, "contact.assigned", decision_id=id_, contact_id=contact, agent_id=agent, channel="voice",
                   trigger_event_id=trigger)  # fmt: skip

    inputs = [
        env("l1", "agent.logged_in", agent_id="a", capacity={"voice": 1}),
        env("l2", "agent.logged_in", agent_id="b", capacity={"voice": 1}),
        env("e1", "contact.arrived", contact_id="c1"),
        env("e2", "contact.arrived", contact_id="c2"),
        env("e3", "contact.rejected", contact_id="c1", agent_id="a"),
        env("e4", "contact.arrived", contact_id="c1"),  # a duplicate arrival, dead-lettered
    ]
    outputs = [
        assigned("e1:0", "c1", "a", "e1"),
        env("e2:0", "contact.queued", decision_id="e2:0", contact_id="c2", trigger_event_id="e2"),
        assigned("e3:0", "c1", "b", "e3"),  # the rejection released a: no overlap...
        assigned("e3:1", "c2", "a", "e3"),  # ... and a is free for c2
        {"id": "dl", "type": "dead_letter", "data": {"event_id": "e4"}},
    ]
    report = replay(inputs, outputs)
    assert (report.overlapping, report.over_capacity, report.arrived, report.dead_letters) == (0, 0, 2, 1)
    assert report.without_outcome == 2  # neither closed yet
    # Without the rejection, c1 is offered to b while a still holds it.
    report = replay([e for e in inputs if e["id"] != "e3"], outputs)
    assert report.overlapping == 1 and not report.promises_kept
