"""Offers (accept, reject, no answer, timeout), pausing after missed offers, and timed wrap-up."""

from __future__ import annotations

import pytest

from contact_router.contract import (
    AgentPaused,
    AgentState,
    ContactAssigned,
    ContactQueued,
    OfferTimedOut,
)
from contact_router.routing import Rejection
from contact_router.routing.config import QueuePolicy, RoutingConfig
from contact_router.routing.model import ContactStatus
from tests.factories import RoutedDomain, agent_in, contact

CONFIG = RoutingConfig(
    default=QueuePolicy(offer_timeout_seconds=15, wrap_up_seconds=30, max_missed_offers=2),
    queues={"instant": QueuePolicy(offer_timeout_seconds=None, wrap_up_seconds=0)},
)


class Domain(RoutedDomain):
    def __init__(self, config: RoutingConfig = CONFIG) -> None:
        super().__init__(config)


def kinds(decisions: list) -> list[tuple]:
    out = []
    for d in decisions:
        if isinstance(d, ContactAssigned):
            out.append(("assigned", d.contact_id, d.agent_id))
        elif isinstance(d, ContactQueued):
            out.append(("queued", d.contact_id, d.reason))
        elif isinstance(d, OfferTimedOut):
            out.append(("timed_out", d.contact_id, d.agent_id))
        elif isinstance(d, AgentPaused):
            out.append(("paused", d.agent_id, d.missed_offers))
        else:
            out.append((type(d).__name__, d.contact_id))
    return out


def two_agents() -> Domain:
    d = Domain()
    d.send("agent.logged_in", agent_in("ann", {"s": 5}))
    d.send("agent.logged_in", agent_in("bob", {"s": 3}))
    return d


def test_an_offer_holds_capacity_until_accepted_and_expires_at_its_deadline() -> None:
    d = two_agents()
    assert kinds(d.send("contact.arrived", contact("c1", {"s": 1}), at=10)) == [("assigned", "c1", "ann")]
    assert d.state.contacts["c1"].offer_pending() and d.deadline() == 25
    d.send("contact.accepted", {"contact_id": "c1", "agent_id": "ann"}, at=12)
    # Accepted: the next deadline is the sweeper's (4 h after assignment, the default).
    assert not d.state.contacts["c1"].offer_pending() and d.deadline() == 10 + 4 * 3600
    assert d.tick(at=30) == []


def test_an_offer_nobody_answers_goes_to_the_next_agent_and_skips_the_first() -> None:
    """FreeSWITCH #2540: agents stuck reserved after an unanswered (ring-all) offer."""
    d = two_agents()
    d.send("contact.arrived", contact("c1", {"s": 1}), at=10)
    out = d.tick(at=25)
    assert kinds(out) == [("timed_out", "c1", "ann"), ("assigned", "c1", "bob")]
    assert out[1].waited_seconds == 15  # its place and wait are kept from arrival
    assert d.state.contacts["c1"].skipped_agents == ["ann"]
    assert d.state.agents["ann"].missed_offers == 1 and d.state.agents["ann"].active == {}


def test_a_tick_before_the_deadline_changes_nothing() -> None:
    d = two_agents()
    d.send("contact.arrived", contact("c1", {"s": 1}), at=10)
    assert d.tick(at=24.9) == [] and d.state.contacts["c1"].agent_id == "ann"


def test_rejection_requeues_without_counting_as_missed() -> None:
    d = two_agents()
    d.send("contact.arrived", contact("c1", {"s": 1}), at=10)
    out = d.send("contact.rejected", {"contact_id": "c1", "agent_id": "ann", "reason": "busy"}, at=11)
    assert kinds(out) == [("assigned", "c1", "bob")]
    assert d.state.agents["ann"].missed_offers == 0


def test_missed_offers_in_a_row_pause_the_agent() -> None:
    d = Domain()
    d.send("agent.logged_in", agent_in("ann", {}))
    d.send("contact.arrived", contact("c1", {}), at=0)
    d.send("contact.not_answered", {"contact_id": "c1", "agent_id": "ann"}, at=5)
    assert d.state.contacts["c1"].status is ContactStatus.WAITING  # ann is skipped for c1
    d.send("contact.arrived", contact("c2", {}), at=6)
    out = d.tick(at=21)
    assert kinds(out) == [("timed_out", "c2", "ann"), ("paused", "ann", 2), ("queued", "c2", "no_eligible_agent")]
    assert d.state.agents["ann"].state is AgentState.AWAY and d.state.agents["ann"].reason == "missed_offers"
    out = d.send("agent.state_changed", {"agent_id": "ann", "state": "available"}, at=30)
    assert out == [] and d.state.agents["ann"].missed_offers == 0  # both contacts skip ann now


def test_accepting_resets_the_missed_count() -> None:
    d = Domain()
    d.send("agent.logged_in", agent_in("ann", {}))
    d.send("contact.arrived", contact("c1", {}), at=0)
    d.send("contact.not_answered", {"contact_id": "c1", "agent_id": "ann"}, at=5)
    d.send("contact.arrived", contact("c2", {}), at=6)
    d.send("contact.accepted", {"contact_id": "c2", "agent_id": "ann"}, at=7)
    assert d.state.agents["ann"].missed_offers == 0


@pytest.mark.parametrize("type_", ["contact.accepted", "contact.rejected", "contact.not_answered"])
def test_answers_for_another_agent_or_an_accepted_offer_are_rejected(type_: str) -> None:
    d = two_agents()
    d.send("contact.arrived", contact("c1", {}), at=0)
    with pytest.raises(Rejection):
        d.send(type_, {"contact_id": "c1", "agent_id": "bob"}, at=1)
    if type_ != "contact.accepted":
        d.send("contact.accepted", {"contact_id": "c1", "agent_id": "ann"}, at=2)
        with pytest.raises(Rejection, match="already accepted"):
            d.send(type_, {"contact_id": "c1", "agent_id": "ann"}, at=3)


def test_wrap_up_holds_the_agent_until_its_end_then_the_next_contact_comes() -> None:
    d = Domain()
    d.send("agent.logged_in", agent_in("ann", {}))
    d.send("contact.arrived", contact("c1", {}), at=0)
    d.send("contact.accepted", {"contact_id": "c1", "agent_id": "ann"}, at=1)
    d.send("contact.arrived", contact("c2", {}), at=2)
    out = d.send("contact.ended", {"contact_id": "c1"}, at=60)
    assert kinds(out) == [("ContactClosed", "c1")]
    assert d.state.agents["ann"].state is AgentState.WRAP_UP and d.deadline() == 90
    assert kinds(d.tick(at=90)) == [("assigned", "c2", "ann")]


def test_ready_early_ends_wrap_up() -> None:
    d = Domain()
    d.send("agent.logged_in", agent_in("ann", {}))
    d.send("contact.arrived", contact("c1", {}), at=0)
    d.send("contact.ended", {"contact_id": "c1"}, at=10)
    d.send("contact.arrived", contact("c2", {}), at=11)
    out = d.send("agent.state_changed", {"agent_id": "ann", "state": "available"}, at=20)
    assert kinds(out) == [("assigned", "c2", "ann")] and d.state.agents["ann"].wrap_up_until is None


def test_queues_without_offers_or_wrap_up_assign_finally_and_free_at_once() -> None:
    d = Domain()
    d.send("agent.logged_in", agent_in("ann", {}))
    d.send("contact.arrived", contact("c1", {}, queue="instant"), at=0)
    assert not d.state.contacts["c1"].offer_pending() and d.deadline() == 4 * 3600
    d.send("contact.arrived", contact("c2", {}, queue="instant"), at=1)
    assert kinds(d.send("contact.ended", {"contact_id": "c1"}, at=5))[1] == ("assigned", "c2", "ann")


SWEEP = RoutingConfig(default=QueuePolicy(max_handle_seconds=600, max_wait_seconds=300))


def test_a_contact_whose_end_was_lost_is_expired_and_its_agent_freed() -> None:
    """OpenSIPS #3123: agents stuck 'in call' after a lost end event."""
    d = Domain(SWEEP)
    d.send("agent.logged_in", agent_in("ann", {}))
    d.send("contact.arrived", contact("c1", {}), at=0)
    d.send("contact.arrived", contact("c2", {}), at=100)
    assert d.deadline() == 400  # c2 may wait until 100 + 300; c1's handling may last until 600
    out = d.tick(at=400)
    assert kinds(out) == [("ContactClosed", "c2")] and out[0].outcome == "expired"
    assert d.deadline() == 600
    out = d.tick(at=600)
    assert out[0].outcome == "expired" and out[0].agent_id == "ann" and out[0].handled_seconds == 600
    assert d.state.agents["ann"].active == {} and d.state.contacts == {}
    assert d.deadline() is None


def test_no_sweeping_when_the_queue_says_never() -> None:
    d = Domain(RoutingConfig(default=QueuePolicy(max_handle_seconds=None)))
    d.send("agent.logged_in", agent_in("ann", {}))
    d.send("contact.arrived", contact("c1", {}), at=0)
    assert d.deadline() is None and d.tick(at=10**7) == []
