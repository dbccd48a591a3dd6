"""Live-state gauges: what a supervisor's wallboard reads, from the domains a worker owns."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, generate_latest

from contact_router.service import RoutingService, SourceRecord
from contact_router.state import InMemoryStore
from contact_router.stream.live_metrics import LiveStateCollector
from tests.factories import T0, agent_in, contact, envelope


def test_gauges_show_waiting_contacts_oldest_wait_and_agents_by_state_then_vanish_on_revocation() -> None:
    service = RoutingService(InMemoryStore())
    events = [
        envelope("agent.logged_in", agent_in("ann", {})),
        envelope("agent.logged_in", agent_in("bob", {}, state="away")),
        envelope("contact.arrived", contact("c1", {}), at=0),
        envelope("contact.arrived", contact("c2", {}), at=10),
        envelope("contact.arrived", contact("c3", {}, channel="chat", queue="chat"), at=20),
    ]
    for offset, env in enumerate(events):
        asyncio.run(service.process(SourceRecord("contact-events", 0, offset, b"bank", env.to_bytes(), env.timestamp)))
    registry = CollectorRegistry()
    registry.register(LiveStateCollector(service.cached_states, clock=lambda: T0.timestamp() + 70))
    text = generate_latest(registry).decode()
    assert 'contact_router_waiting_contacts{channel="voice",domain="bank",queue="general"} 1.0' in text
    assert 'contact_router_waiting_contacts{channel="chat",domain="bank",queue="chat"} 1.0' in text
    assert 'contact_router_oldest_wait_seconds{domain="bank",queue="general"} 60.0' in text
    assert 'contact_router_agents{domain="bank",state="busy"} 1.0' in text
    assert 'contact_router_agents{domain="bank",state="away"} 1.0' in text
    assert '"c1"' not in text and '"ann"' not in text  # no contact or agent id as a label value
    service.forget_cached()  # partitions revoked: another worker exports this domain now
    assert "contact_router_waiting_contacts{" not in generate_latest(registry).decode()
