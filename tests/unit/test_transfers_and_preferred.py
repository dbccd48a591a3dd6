"""Preferred agents for a bounded time, and transfers to queues, agents and supervisors."""

from __future__ import annotations

import pytest

from contact_router.contract import AgentState, ContactAssigned, ContactQueued
from contact_router.routing import Rejection
from contact_router.routing.config import QueuePolicy, RoutingConfig
from contact_router.routing.model import ContactStatus
from tests.factories import RoutedDomain, agent_in, assigned, contact

CONFIG = RoutingConfig(
    default=QueuePolicy(preferred_agent_seconds=20), queues={"sales": QueuePolicy(wrap_up_seconds=30)}
)


class Domain(RoutedDomain):
    def __init__(self) -> None:
        super().__init__(CONFIG)


def test_a_contact_waits_for_its_preferred_agent_then_anyone_may_take_it() -> None:
    d = Domain()
    d.send("agent.logged_in", agent_in("last", {}))
    d.send("agent.logged_in", agent_in("other", {}))
    d.send("contact.arrived", contact("busy-maker", {}), at=0)  # takes one of them
    holder = d.state.contacts["busy-maker"].agent_id
    free = "other" if holder == "last" else "last"
    d.send("contact.arrived", contact("c1", {}, preferred_agent_id=holder), at=1)
    assert d.state.contacts["c1"].status is ContactStatus.WAITING  # `free` may not take it yet
    assert assigned(d.send("timer.fired", {}, at=21)) == [("c1", free)]


def test_the_preferred_agent_gets_the_contact_when_free_within_the_window() -> None:
    d = Domain()
    d.send("agent.logged_in", agent_in("last", {}))
    d.send("agent.logged_in", agent_in("other", {}))
    d.send("contact.arrived", contact("x", {}, preferred_agent_id="last"), at=0)
    d.send("contact.arrived", contact("c1", {}, preferred_agent_id="last"), at=1)
    out = d.send("contact.ended", {"contact_id": "x"}, at=5)
    assert assigned(out) == [("c1", "last")]


def test_a_preferred_agent_who_is_not_logged_in_is_not_waited_for() -> None:
    d = Domain()
    d.send("agent.logged_in", agent_in("other", {}))
    assert assigned(d.send("contact.arrived", contact("c1", {}, preferred_agent_id="gone"), at=0)) == [("c1", "other")]


def test_a_transfer_to_another_queue_requeues_with_history_and_honours_wrap_up() -> None:
    """Asterisk #607: wrap-up not honoured after a transfer."""
    d = Domain()
    d.send("agent.logged_in", agent_in("seller", {"sales": 3}))
    d.send("agent.logged_in", agent_in("tech", {"tech": 4}))
    d.send("contact.arrived", contact("c1", {"sales": 1}, queue="sales"), at=0)
    out = d.send("contact.transferred", {"contact_id": "c1", "to_queue": "support", "skills": {"tech": 2}}, at=100)
    (decision,) = assigned(out)
    assert decision == ("c1", "tech")
    full = next(x for x in out if isinstance(x, ContactAssigned))
    assert full.queue == "support" and full.transfers == 1 and full.previous_agents == ["seller"]
    assert full.waited_seconds == 0  # a new wait in the new queue
    assert d.state.agents["seller"].state is AgentState.WRAP_UP and d.state.agents["seller"].active == {}


def test_escalation_to_a_supervisor_is_a_transfer_to_the_supervisor_skill() -> None:
    d = Domain()
    d.send("agent.logged_in", agent_in("ann", {"billing": 3}))
    d.send("contact.arrived", contact("c1", {"billing": 1}), at=0)
    out = d.send("contact.transferred", {"contact_id": "c1", "to_queue": "supervisors", "skills": {"supervisor": 1}}, at=50)
    assert isinstance(out[0], ContactQueued) and out[0].reason == "no_eligible_agent"
    out = d.send("agent.logged_in", agent_in("sue", {"supervisor": 5}), at=60)
    (decision,) = [x for x in out if isinstance(x, ContactAssigned)]
    assert decision.agent_id == "sue" and decision.previous_agents == ["ann"]


def test_a_transfer_to_a_named_agent_waits_for_them_and_never_goes_back() -> None:
    d = Domain()
    for name in ("ann", "bob", "cat"):
        d.send("agent.logged_in", agent_in(name, {}))
    d.send("contact.arrived", contact("c0", {}), at=0)  # ann (lowest id on ties)
    d.send("contact.arrived", contact("c1", {}), at=0)  # bob
    d.send("contact.transferred", {"contact_id": "c0", "to_agent_id": "bob"}, at=10)
    assert d.state.contacts["c0"].status is ContactStatus.WAITING  # cat may not take it yet
    out = d.send("contact.ended", {"contact_id": "c1"}, at=15)
    assert assigned(out) == [("c0", "bob")]


def test_only_a_contact_in_progress_can_be_transferred() -> None:
    d = Domain()
    d.send("contact.arrived", contact("c1", {}), at=0)
    with pytest.raises(Rejection, match="in progress"):
        d.send("contact.transferred", {"contact_id": "c1", "to_queue": "x"}, at=1)
