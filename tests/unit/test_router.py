"""The pure routing core: matching, ranking, queue order, capacity, terminal outcomes."""

from __future__ import annotations

import pytest

from contact_router.contract import (
    AgentState,
    ContactAssigned,
    ContactClosed,
    ContactQueued,
    parse_input,
)
from contact_router.routing import Rejection, Router
from contact_router.routing.model import ContactStatus
from tests.factories import RoutedDomain as Domain
from tests.factories import agent_in, assigned, contact, envelope


def test_contact_goes_to_the_most_proficient_available_agent() -> None:
    d = Domain()
    d.send("agent.logged_in", agent_in("a-low", {"billing": 2}))
    d.send("agent.logged_in", agent_in("a-high", {"billing": 5}))
    out = d.send("contact.arrived", contact("c1", {"billing": 2}), at=10)
    assert assigned(out) == [("c1", "a-high")]
    assert out[0].policy == "blend" and out[0].score_components["proficiency"] == 5.0
    assert out[0].matched_skills == {"billing": 5}


def test_ties_go_to_the_longest_idle_agent() -> None:
    d = Domain()
    d.send("agent.logged_in", agent_in("a-recent", {"billing": 3}), at=50)
    d.send("agent.logged_in", agent_in("a-idle", {"billing": 3}), at=5)
    assert assigned(d.send("contact.arrived", contact("c1", {"billing": 3}), at=60)) == [("c1", "a-idle")]


def test_agent_below_minimum_level_or_without_language_is_never_chosen() -> None:
    d = Domain()
    d.send("agent.logged_in", agent_in("a1", {"billing": 2}, languages=["en"]))
    d.send("agent.logged_in", agent_in("a2", {"billing": 5}, languages=["he"]))
    out = d.send("contact.arrived", contact("c1", {"billing": 3}, language="en"))
    assert assigned(out) == []
    assert isinstance(out[0], ContactQueued) and out[0].reason == "no_eligible_agent"


def test_busy_agent_queues_the_contact_and_takes_it_when_free() -> None:
    d = Domain()
    d.send("agent.logged_in", agent_in("a1", {"billing": 3}))
    d.send("contact.arrived", contact("c1", {"billing": 1}), at=1)
    out = d.send("contact.arrived", contact("c2", {"billing": 1}), at=2)
    assert isinstance(out[0], ContactQueued) and out[0].reason == "no_free_agent" and out[0].position == 1
    out = d.send("contact.ended", {"contact_id": "c1", "resolved": True}, at=30)
    closed, handed = out
    assert isinstance(closed, ContactClosed) and closed.outcome == "completed" and closed.handled_seconds == 29
    assert isinstance(handed, ContactAssigned) and handed.contact_id == "c2" and handed.waited_seconds == 28


def test_freed_agent_takes_highest_priority_then_longest_waiting() -> None:
    """FreeSWITCH #2511 (queue order violated), Chatwoot #10376 (the oldest contact not served first)."""
    d = Domain()
    d.send("agent.logged_in", agent_in("a1", {}, state="away"))
    d.send("contact.arrived", contact("old-low", {}), at=1)
    d.send("contact.arrived", contact("new-high", {}, priority=5), at=3)
    d.send("contact.arrived", contact("older-high", {}, priority=5), at=2)
    out = d.send("agent.state_changed", {"agent_id": "a1", "state": "available"}, at=4)
    assert assigned(out) == [("older-high", "a1")]


def test_chat_capacity_takes_several_and_never_more() -> None:
    d = Domain()
    for i in range(5):
        d.send("contact.arrived", contact(f"c{i}", {}, channel="chat"), at=i)
    out = d.send("agent.logged_in", agent_in("a1", {}, capacity={"chat": 3, "voice": 1}), at=10)
    assert assigned(out) == [("c0", "a1"), ("c1", "a1"), ("c2", "a1")]
    assert d.state.agents["a1"].free_capacity("chat") == 0


def test_unavailable_agent_gets_nothing() -> None:
    """Chatwoot #5672: contacts offered to offline agents."""
    d = Domain()
    d.send("agent.logged_in", agent_in("a1", {}))
    d.send("agent.logged_in", agent_in("a2", {}))
    d.send("agent.state_changed", {"agent_id": "a1", "state": "wrap_up"})
    d.send("agent.logged_out", {"agent_id": "a2"})
    out = d.send("contact.arrived", contact("c1", {}))
    assert assigned(out) == [] and out[0].reason == "no_free_agent"


def test_abandoned_while_waiting_is_closed_and_leaves_the_queue() -> None:
    d = Domain()
    d.send("contact.arrived", contact("c1", {}), at=0)
    out = d.send("contact.abandoned", {"contact_id": "c1"}, at=45)
    assert isinstance(out[0], ContactClosed) and out[0].outcome == "abandoned" and out[0].waited_seconds == 45
    assert d.state.contacts == {}


def test_abandoned_while_assigned_frees_the_agent_for_the_next_contact() -> None:
    d = Domain()
    d.send("agent.logged_in", agent_in("a1", {}))
    d.send("contact.arrived", contact("c1", {}), at=1)
    d.send("contact.arrived", contact("c2", {}), at=2)
    out = d.send("contact.abandoned", {"contact_id": "c1"}, at=3)
    assert assigned(out) == [("c2", "a1")]


@pytest.mark.parametrize(
    ("type_", "data", "reason"),
    [
        ("contact.ended", {"contact_id": "nope"}, "unknown contact"),
        ("contact.abandoned", {"contact_id": "nope"}, "unknown contact"),
        ("agent.state_changed", {"agent_id": "nope", "state": "available"}, "unknown agent"),
        ("contact.arrived", contact("dup", {}), "already"),
    ],
)
def test_inapplicable_events_are_rejected_without_changing_state(type_: str, data: dict, reason: str) -> None:
    d = Domain()
    d.send("contact.arrived", contact("dup", {}))
    d.state.clear_changes()
    with pytest.raises(Rejection, match=reason):
        d.send(type_, data)
    assert not d.state.changed_agents and not d.state.changed_contacts
    assert d.state.contacts["dup"].status is ContactStatus.WAITING


def test_decision_ids_are_derived_from_the_trigger_so_replays_match() -> None:
    first, second = Domain(), Domain()
    for d in (first, second):
        d.send("agent.logged_in", agent_in("a1", {}))
    env = envelope("contact.arrived", contact("c1", {}))
    a = first.router.handle(first.state, parse_input(env), env.id, env.timestamp)
    b = second.router.handle(second.state, parse_input(env), env.id, env.timestamp)
    assert a == b and a[0].decision_id == f"{env.id}:0" and a[0].trigger_event_id == env.id


def test_relogin_keeps_contacts_in_progress() -> None:
    d = Domain()
    d.send("agent.logged_in", agent_in("a1", {}))
    d.send("contact.arrived", contact("c1", {}))
    d.send("agent.logged_in", agent_in("a1", {"x": 1}))
    assert d.state.agents["a1"].active == {"c1": "voice"}
    d.send("agent.logged_out", {"agent_id": "a1"})
    assert d.state.agents["a1"].state is AgentState.OFFLINE


def test_new_skills_let_an_agent_take_a_contact_that_was_waiting() -> None:
    d = Domain()
    d.send("agent.logged_in", agent_in("a1", {"billing": 1}))
    d.send("contact.arrived", contact("c1", {"billing": 3}), at=1)
    out = d.send("agent.skills_changed", {"agent_id": "a1", "skills": {"billing": 4}}, at=2)
    assert assigned(out) == [("c1", "a1")]


def test_acceptance_must_match_the_assignment() -> None:
    d = Domain()
    d.send("agent.logged_in", agent_in("a1", {}))
    d.send("contact.arrived", contact("c1", {}))
    assert d.send("contact.accepted", {"contact_id": "c1", "agent_id": "a1"}) == []
    with pytest.raises(Rejection, match="not offered to or assigned to that agent"):
        d.send("contact.accepted", {"contact_id": "c1", "agent_id": "a2"})


def test_holds_and_sentiment_are_remembered_for_the_early_warnings() -> None:
    d = Domain()
    d.send("agent.logged_in", agent_in("a1", {}))
    d.send("contact.arrived", contact("c1", {}))
    d.send("contact.arrived", contact("c2", {}))
    with pytest.raises(Rejection, match="only a contact in progress can be held"):
        d.send("contact.held", {"contact_id": "c2"})  # still waiting
    for type_ in ("contact.held", "contact.held", "contact.resumed", "contact.held"):
        assert d.send(type_, {"contact_id": "c1"}) == []
    assert d.state.contacts["c1"].holds == 2 and d.state.contacts["c1"].on_hold
    d.send("contact.sentiment", {"contact_id": "c2", "score": 0.4}, at=10)
    d.send("contact.sentiment", {"contact_id": "c2", "score": -0.3}, at=40)
    c2 = d.state.contacts["c2"]
    assert (c2.sentiment_prev, c2.sentiment, c2.sentiment_at - c2.sentiment_prev_at) == (0.4, -0.3, 30)
    with pytest.raises(Rejection, match="unknown contact"):
        d.send("contact.sentiment", {"contact_id": "nobody", "score": 0.0})


def test_a_callback_keeps_its_place_and_the_assignment_says_call_back() -> None:
    d = Domain()
    d.send("agent.logged_in", agent_in("a1", {}, state="away"))
    d.send("contact.arrived", contact("c1", {}), at=0)
    d.send("contact.arrived", contact("c2", {}), at=5)
    assert d.send("contact.callback_requested", {"contact_id": "c1"}, at=10) == []
    (decision,) = d.send("agent.state_changed", {"agent_id": "a1", "state": "available"}, at=60)
    assert decision.contact_id == "c1" and decision.callback is True and decision.waited_seconds == 60
    with pytest.raises(Rejection, match="waiting contact"):
        d.send("contact.callback_requested", {"contact_id": "c1"}, at=61)


def test_priority_aging_lets_a_long_wait_overtake_a_higher_priority() -> None:
    from contact_router.routing.config import QueuePolicy, RoutingConfig

    d = Domain()
    d.router = Router(RoutingConfig(queues={"slow": QueuePolicy(priority_aging_per_minute=1.0)}))
    d.send("agent.logged_in", agent_in("a1", {}, state="away"))
    d.send("contact.arrived", contact("old", {}, queue="slow", priority=0), at=0)
    d.send("contact.arrived", contact("vip", {}, queue="general", priority=2), at=170)
    # At 180 s, "old" has aged to 0 + 3 > 2: it goes first; without aging "vip" would.
    (decision,) = d.send("agent.state_changed", {"agent_id": "a1", "state": "available"}, at=180)
    assert decision.contact_id == "old"


def test_a_call_blocks_new_chats_and_a_chat_blocks_calls() -> None:
    d = Domain()
    d.send("agent.logged_in", agent_in("a1", {}, capacity={"voice": 1, "chat": 3}))
    d.send("contact.arrived", contact("call", {}, channel="voice"), at=0)
    assert assigned(d.send("contact.arrived", contact("chat1", {}, channel="chat"), at=1)) == []
    out = d.send("contact.ended", {"contact_id": "call"}, at=60)
    assert assigned(out) == [("chat1", "a1")]
    # Chatting now: a new call waits, a second chat does not.
    assert assigned(d.send("contact.arrived", contact("call2", {}, channel="voice"), at=61)) == []
    assert assigned(d.send("contact.arrived", contact("chat2", {}, channel="chat"), at=62)) == [("chat2", "a1")]


def test_channel_blocks_are_configurable() -> None:
    from contact_router.routing.config import RoutingConfig

    d = Domain()
    d.router = Router(RoutingConfig(channel_blocks={}))  # a blended agent: calls and chats together
    d.send("agent.logged_in", agent_in("a1", {}, capacity={"voice": 1, "chat": 3}))
    d.send("contact.arrived", contact("call", {}, channel="voice"), at=0)
    assert assigned(d.send("contact.arrived", contact("chat1", {}, channel="chat"), at=1)) == [("chat1", "a1")]
