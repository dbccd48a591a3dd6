"""Bullseye relaxation: requirements widen as a contact waits, on the domain's timers."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from contact_router.contract import ContactAssigned
from contact_router.routing.config import QueuePolicy, RelaxationStep, RoutingConfig
from tests.factories import RoutedDomain, agent_in, contact

STEPS = [
    RelaxationStep(after_seconds=30, lower_levels_by=1),
    RelaxationStep(after_seconds=60, drop_skills=["spanish"], drop_language=True),
    RelaxationStep(after_seconds=120, skills={"general": 1}),
]


class Domain(RoutedDomain):
    def __init__(self) -> None:
        super().__init__(RoutingConfig(default=QueuePolicy(relaxation=STEPS)))


def test_levels_lower_at_the_first_step_and_the_decision_records_it() -> None:
    d = Domain()
    d.send("agent.logged_in", agent_in("ann", {"mortgages": 3}))
    d.send("contact.arrived", contact("c1", {"mortgages": 4}), at=0)
    assert d.deadline() == 30
    assert d.send("timer.fired", {}, at=29.9) == []
    (decision,) = d.send("timer.fired", {}, at=30)
    assert isinstance(decision, ContactAssigned) and decision.agent_id == "ann"
    assert decision.relaxation_step == 1 and decision.matched_skills == {"mortgages": 3}
    assert d.state.contacts["c1"].base_skills == {"mortgages": 4}


def test_steps_apply_cumulatively_up_to_an_overflow_to_another_group() -> None:
    d = Domain()
    d.send("agent.logged_in", agent_in("generalist", {"general": 2}, languages=["en"]))
    d.send("contact.arrived", contact("c1", {"mortgages": 5, "spanish": 3}, language="es"), at=0)
    assert d.send("timer.fired", {}, at=30) == [] and d.state.contacts["c1"].skills == {"mortgages": 4, "spanish": 2}
    assert d.send("timer.fired", {}, at=60) == []
    assert d.state.contacts["c1"].skills == {"mortgages": 4} and d.state.contacts["c1"].language is None
    (decision,) = d.send("timer.fired", {}, at=120)
    assert decision.agent_id == "generalist" and decision.relaxation_step == 3
    assert decision.matched_skills == {"general": 2}


def test_a_late_timer_applies_every_step_reached_at_once() -> None:
    d = Domain()
    d.send("contact.arrived", contact("c1", {"mortgages": 5, "spanish": 3}), at=0)
    d.send("timer.fired", {}, at=100)
    assert d.state.contacts["c1"].relaxation_step == 2 and d.state.contacts["c1"].skills == {"mortgages": 4}
    assert d.deadline() == 120


def test_relaxation_keeps_the_contacts_place_in_the_queue() -> None:
    d = Domain()
    d.send("agent.logged_in", agent_in("ann", {"mortgages": 3}, state="away"))
    d.send("contact.arrived", contact("early", {"mortgages": 4}), at=0)
    d.send("contact.arrived", contact("later", {"mortgages": 3}), at=10)
    d.send("timer.fired", {}, at=30)  # early relaxes to level 3: both now fit ann
    (decision,) = d.send("agent.state_changed", {"agent_id": "ann", "state": "available"}, at=31)
    assert decision.contact_id == "early"


def test_steps_must_be_in_increasing_order() -> None:
    with pytest.raises(ValidationError, match="increasing"):
        QueuePolicy(relaxation=[RelaxationStep(after_seconds=60), RelaxationStep(after_seconds=30)])


def test_a_contact_assigned_by_a_timer_keeps_the_step_it_was_assigned_at() -> None:
    """Its preference ends and a relaxation step falls due in the same timer: the contact is assigned
    when the preference ends, so the step must not rewrite what it was assigned with."""
    from contact_router.routing.config import QueuePolicy as Policy

    d = RoutedDomain(RoutingConfig(default=Policy(preferred_agent_seconds=30, relaxation=[STEPS[0]])))
    d.send("agent.logged_in", agent_in("pref", {"x": 5}))
    d.send("agent.logged_in", agent_in("free", {"x": 4}, state="away"))
    d.send("contact.arrived", contact("keeps-pref-busy", {"x": 1}), at=0)
    d.send("agent.state_changed", {"agent_id": "free", "state": "available"}, at=0)
    d.send("contact.arrived", contact("c1", {"x": 4}, preferred_agent_id="pref"), at=0)
    assert d.state.contacts["c1"].agent_id is None  # waits for "pref"; "free" may not take it yet
    (decision,) = d.tick(at=30)  # preference over (assigned to "free") and step 1 due at once
    assert decision.agent_id == "free" and decision.relaxation_step == 0
    assert d.state.contacts["c1"].relaxation_step == 0 and d.state.contacts["c1"].skills == {"x": 4}
