"""Live-state gauges: what a supervisor's wallboard reads, from the domains a worker owns."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, generate_latest

from contact_router.service import RoutingService, SourceRecord
from contact_router.state import InMemoryStore
from contact_router.stream.live_metrics import LiveStateCollector
from tests.factories import PSEUDONYMS, T0, agent_in, contact, envelope


def test_gauges_show_waiting_contacts_oldest_wait_and_agents_by_state_then_vanish_on_revocation() -> None:
    service = RoutingService(InMemoryStore(), pseudonyms=PSEUDONYMS)
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


def test_queue_gauges_service_level_staffing_escalations_and_kpi_counters() -> None:
    from contact_router.core import Engine
    from contact_router.metrics import Metrics
    from contact_router.routing.config import RoutingConfig
    from tests.factories import WatchedDomain

    config = RoutingConfig.model_validate(
        {"default": {"service_level_seconds": 20, "expected_handle_seconds": 120, "alerts": {"sla_warn_after_seconds": 0}}}
    )
    probe = WatchedDomain(config)  # for its half-hour-aligned clock
    start = probe.start - T0.timestamp()
    service = RoutingService(InMemoryStore(), pseudonyms=PSEUDONYMS, engine=Engine(config))
    metrics = Metrics(per_agent_limit=10)
    events = [envelope("agent.logged_in", agent_in("ann", {}, location="home"), at=start)]
    events += [envelope("contact.arrived", contact(f"c{i}", {}), at=start + i) for i in range(12)]
    events += [envelope("contact.ended", {"contact_id": "c0", "csat": 5}, at=start + 100)]
    events += [envelope("timer.fired", {}, at=start + 130)]
    for offset, env in enumerate(events):
        processed = asyncio.run(service.process(SourceRecord("contact-events", 0, offset, b"bank", env.to_bytes(), env.timestamp)))
        metrics.observe(processed, 0.001)
    metrics.registry.register(
        LiveStateCollector(service.cached_states, clock=lambda: probe.start + 140, config=config, per_agent_limit=10)
    )
    text = generate_latest(metrics.registry).decode()
    # c0 answered at once, c1 after 99 s: 1 of 2 within 20 s.
    assert 'contact_router_service_level_ratio{domain="bank",queue="general"} 0.5' in text
    assert 'contact_router_service_level_target_ratio{domain="bank",queue="general"} 0.8' in text
    assert 'contact_router_agents_staffed{domain="bank",queue="general"} 1.0' in text
    assert 'contact_router_agents_required{domain="bank",model="erlang_c",queue="general"}' in text
    assert 'contact_router_arrivals_current{domain="bank",queue="general"} 12.0' in text
    assert 'contact_router_escalations_active{domain="bank",kind="sla_at_risk",queue="general",severity="warning"} 1.0' in text
    assert 'contact_router_escalations_total{kind="sla_at_risk",severity="warning"} 1.0' in text
    assert 'contact_router_service_level_met_total{channel="voice",queue="general"} 1.0' in text
    assert 'contact_router_service_level_offered_total{channel="voice",queue="general"} 2.0' in text
    assert 'contact_router_contacts_arrived_total{channel="voice",queue="general"} 12.0' in text
    assert 'contact_router_handle_seconds_count{channel="voice",location="home",queue="general"} 1.0' in text
    assert 'contact_router_csat_score_sum{channel="voice",queue="general"} 5.0' in text
    assert 'contact_router_first_contact_resolutions_total{channel="voice",queue="general"} 1.0' in text
    assert 'contact_router_agent_handled_total{agent="ann"} 1.0' in text
    assert 'contact_router_agent_occupancy_ratio{agent="ann",domain="bank"}' in text
    assert '"c0"' not in text and '"c1"' not in text


def test_per_agent_series_stay_off_above_the_limit() -> None:
    from contact_router.alerts.kpis import Finished
    from contact_router.metrics import Metrics
    from contact_router.service import Processed, Result

    metrics = Metrics(per_agent_limit=2)
    facts = [Finished("q", "voice", f"agent-{i}", "office", 60.0, True, True, None, None) for i in range(5)]
    metrics.observe(Processed(Result.APPLIED, [], "contact.ended", facts=facts), 0.001)
    text = generate_latest(metrics.registry).decode()
    assert text.count("contact_router_agent_handled_total{") == 2
