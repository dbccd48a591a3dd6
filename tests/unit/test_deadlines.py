"""The engine's next deadline keeps each contact's part until the contact changes: it must always equal
the deadline worked out from scratch, whatever the events did to the state."""

from __future__ import annotations

from pathlib import Path

import pytest

from contact_router.contract import INPUT_TYPES, decode_envelope, parse_input
from contact_router.core import Engine
from contact_router.routing import Rejection
from contact_router.routing.config import RoutingConfig
from contact_router.routing.model import DomainState
from contact_router.sim.offline import OfflineSimulator
from contact_router.sim.scenario import load_scenario
from tests.factories import T0, WatchedDomain, agent_in, contact

ROOT = Path(__file__).resolve().parents[2]


def from_scratch(engine: Engine, state: DomainState) -> float | None:
    assert engine.warnings is not None
    found = [t for t in (engine.router.next_deadline(state), engine.warnings.next_deadline(state)) if t is not None]
    return min(found, default=None)


@pytest.mark.timeout(60)  # a part kept too long can also make the simulator's timers loop for ever
@pytest.mark.parametrize(("name", "hours"), [("demo.yaml", 0.25), ("understaffed-day.yaml", 0.5)])
def test_the_kept_deadline_equals_the_one_from_scratch_after_every_event(name: str, hours: float) -> None:
    """A simulated center's inputs (offers ringing out, wrap-ups, relaxation, long waits and their
    alerts, timers) replayed through a fresh engine, the deadline asked after each one."""
    scenario = load_scenario(ROOT / "scenarios" / name)
    record: list[bytes] = []
    OfflineSimulator.from_scenario(scenario.model_copy(update={"hours": hours}), seed=3, record=record).run()
    engine, state = Engine(scenario.routing), DomainState()
    checked = most_contacts = 0
    for line in record:
        envelope = decode_envelope(line, 1 << 20)
        if envelope.type not in INPUT_TYPES:  # the simulator records the router's outputs too
            continue
        try:
            engine.handle(state, parse_input(envelope), envelope.id, envelope.timestamp, domain=envelope.domain)
        except Rejection:
            pass
        assert engine.next_deadline(state) == from_scratch(engine, state), f"after {envelope.type} #{checked}"
        checked += 1
        most_contacts = max(most_contacts, len(state.contacts))
    assert checked > 150 and most_contacts >= 5


def test_a_state_another_engine_kept_parts_for_gets_this_engines_deadlines() -> None:
    """Parts are worked out with an engine's config: a second engine must not use the first one's."""
    patient = RoutingConfig.model_validate({"default": {"max_wait_seconds": 600}})
    strict = RoutingConfig.model_validate({"default": {"max_wait_seconds": 3}})  # before any warning
    domain = WatchedDomain(patient)
    domain.send("contact.arrived", contact("c1", {"loans": 1}), at=0.0)
    first = domain.engine.next_deadline(domain.state)
    second = Engine(strict).next_deadline(domain.state)
    assert first is not None and second is not None and second < first
    assert second == from_scratch(Engine(strict), domain.state)
    assert domain.engine.next_deadline(domain.state) == first


def test_a_contact_changed_or_gone_is_worked_out_again() -> None:
    domain = WatchedDomain(RoutingConfig.model_validate({"default": {"max_wait_seconds": 600, "offer_timeout_seconds": 10}}))
    domain.send("contact.arrived", contact("c1", {"loans": 1}), at=0.0)
    waiting = domain.engine.next_deadline(domain.state)
    domain.send("agent.logged_in", agent_in("a1", {"loans": 1}), at=5.0)  # offered c1: rings for 10 s
    ringing = domain.engine.next_deadline(domain.state)
    assert ringing != waiting and ringing == from_scratch(domain.engine, domain.state)
    assert ringing is not None and ringing <= T0.timestamp() + domain.start - T0.timestamp() + 15.0 + 1
    domain.send("contact.abandoned", {"contact_id": "c1"}, at=6.0)
    assert "c1" not in domain.state.kept_deadlines.router
    assert domain.engine.next_deadline(domain.state) == from_scratch(domain.engine, domain.state)
