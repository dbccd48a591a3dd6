"""Scoring policies: each picks the agent its name promises, and says why."""

from __future__ import annotations

from collections import Counter

from contact_router.contract import ContactAssigned
from contact_router.routing.config import QueuePolicy, RoutingConfig
from tests.factories import RoutedDomain, agent_in, contact


class Domain(RoutedDomain):
    def __init__(self, scoring: str) -> None:
        super().__init__(RoutingConfig(default=QueuePolicy(scoring=scoring)))

    def route(self, contact_id: str, at: float) -> ContactAssigned:
        (decision,) = self.send("contact.arrived", contact(contact_id, {"s": 1}), at=at)
        return decision

    def end(self, contact_id: str, at: float) -> None:
        self.send("contact.ended", {"contact_id": contact_id}, at=at)


def test_best_skilled_takes_the_expert_even_just_after_a_contact() -> None:
    d = Domain("best_skilled")
    d.send("agent.logged_in", agent_in("novice", {"s": 1}), at=0)
    d.send("agent.logged_in", agent_in("expert", {"s": 5}), at=0)
    d.route("c1", at=10)
    d.end("c1", at=400)
    decision = d.route("c2", at=401)
    assert decision.agent_id == "expert" and decision.policy == "best_skilled" and decision.score == 5.0


def test_longest_idle_takes_the_agent_idle_longest_whatever_their_skill() -> None:
    d = Domain("longest_idle")
    d.send("agent.logged_in", agent_in("novice", {"s": 1}), at=0)
    d.send("agent.logged_in", agent_in("expert", {"s": 5}), at=50)
    decision = d.route("c1", at=100)
    assert decision.agent_id == "novice" and decision.score_components["idle_seconds"] == 100


def test_least_occupied_prefers_the_agent_who_worked_least_lately() -> None:
    d = Domain("least_occupied")
    d.send("agent.logged_in", agent_in("busy", {"s": 5}), at=0)
    d.send("agent.logged_in", agent_in("rested", {"s": 1}), at=0)
    first = d.route("c1", at=0)  # a tie: both at zero occupancy; the lowest id wins
    assert first.agent_id == "busy"
    d.end("c1", at=1200)  # busy worked 20 minutes straight
    d.route("c2", at=1200)
    decision = d.route("c3", at=1201)
    assert d.state.contacts["c2"].agent_id == "rested" and decision.agent_id == "busy"
    d.end("c2", at=1210)
    d.end("c3", at=1211)
    assert d.route("c4", at=1300).agent_id == "rested"  # 10 s of work weighs less than 20 min


def test_round_robin_rotates_through_equal_agents() -> None:
    d = Domain("round_robin")
    for name in ("a", "b", "c"):
        d.send("agent.logged_in", agent_in(name, {"s": 1}), at=0)
    order = []
    for n in range(6):
        decision = d.route(f"c{n}", at=10 * n + 1)
        order.append(decision.agent_id)
        d.end(f"c{n}", at=10 * n + 2)
    assert order == ["a", "b", "c", "a", "b", "c"]


def test_random_is_spread_and_replays_identically() -> None:
    picks = []
    for _ in range(2):
        d = Domain("random")
        for name in ("a", "b", "c", "d"):
            d.send("agent.logged_in", agent_in(name, {"s": 1}), at=0)
        run = []
        for n in range(200):
            run.append(d.route(f"c{n}", at=n + 1).agent_id)
            d.end(f"c{n}", at=n + 1.5)
        picks.append(run)
    assert picks[0] == picks[1]
    assert min(Counter(picks[0]).values()) > 30


def test_blend_spreads_work_that_best_skilled_gives_to_one_expert() -> None:
    """FreePBX #40 / OpenSIPS #2974: the same agent always chosen."""
    handled: dict[str, Counter[str]] = {}
    for scoring in ("best_skilled", "blend"):
        d = Domain(scoring)
        for name, level in (("expert", 5), ("good", 4), ("fair", 3)):
            d.send("agent.logged_in", agent_in(name, {"s": level}), at=0)
        handled[scoring] = Counter()
        for n in range(60):  # one contact a minute, 50 s each: someone is always free
            handled[scoring][d.route(f"c{n}", at=60 * n + 1).agent_id] += 1
            d.end(f"c{n}", at=60 * n + 51)
    assert handled["best_skilled"] == Counter({"expert": 60})
    assert set(handled["blend"]) == {"expert", "good", "fair"}
    assert handled["blend"]["expert"] < 40
