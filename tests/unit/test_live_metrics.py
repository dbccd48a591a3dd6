"""Live-state gauges: what a supervisor's wallboard reads, from the domains a worker owns."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from functools import partial

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from contact_router.routing.config import RoutingConfig
from contact_router.routing.model import DomainState
from contact_router.service import RoutingService, SourceRecord
from contact_router.state import InMemoryStore
from contact_router.stream.live_metrics import LiveStateCollector, OnLoop, read_live_gauges
from tests.factories import PSEUDONYMS, T0, agent_in, contact, envelope


def read_now(
    states: Callable[[], Iterable[tuple[str, DomainState]]],
    clock: Callable[[], float],
    config: RoutingConfig | None = None,
    per_agent_limit: int = 0,
) -> Callable[[], object]:
    """The collector's reader, run on a loop of its own (one thread: nothing changes the state meanwhile)."""
    return lambda: asyncio.run(
        read_live_gauges(states, config or RoutingConfig(), per_agent_limit, clock=clock, domains_per_step=1)
    )


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
    registry.register(LiveStateCollector(read_now(service.cached_states, clock=lambda: T0.timestamp() + 70)))
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
        LiveStateCollector(read_now(service.cached_states, clock=lambda: probe.start + 140, config=config, per_agent_limit=10))
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


@pytest.fixture
def running_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    loop.close()


def test_on_loop_runs_the_read_on_the_loops_thread_and_gives_none_before_it_is_attached(
    running_loop: asyncio.AbstractEventLoop,
) -> None:
    on_loop = OnLoop()

    async def which_thread() -> int:
        return threading.get_ident()

    assert on_loop.run(which_thread) is None  # the worker has not started its loop yet
    asyncio.run_coroutine_threadsafe(on_loop.attach(), running_loop).result(5)
    loop_thread = asyncio.run_coroutine_threadsafe(which_thread(), running_loop).result(5)
    assert on_loop.run(which_thread) == loop_thread != threading.get_ident()


def test_scrapes_never_fail_while_the_loop_changes_the_state(running_loop: asyncio.AbstractEventLoop) -> None:
    """Reading the domains' dicts from the metrics server's thread while the loop added and removed
    contacts failed some scrapes ("dictionary changed size during iteration", HTTP 500)."""
    service = RoutingService(InMemoryStore(), pseudonyms=PSEUDONYMS)
    setup = [envelope("agent.logged_in", agent_in("ann", {}, state="away")), envelope("contact.arrived", contact("c0", {}))]
    for offset, env in enumerate(setup):
        asyncio.run(service.process(SourceRecord("contact-events", 0, offset, b"bank", env.to_bytes(), env.timestamp)))
    state = dict(service.cached_states())["bank"]
    waiting = state.contacts["c0"]
    stop = threading.Event()

    async def churn() -> None:  # what routing does to the state between two scrapes, much faster
        n = 0
        while not stop.is_set():
            if len(state.contacts) > 200:
                state.contacts.clear()
            for _ in range(50):
                n += 1
                state.contacts[f"c{n}"] = waiting
            await asyncio.sleep(0)

    on_loop = OnLoop()
    asyncio.run_coroutine_threadsafe(on_loop.attach(), running_loop).result(5)
    churning = asyncio.run_coroutine_threadsafe(churn(), running_loop)
    registry = CollectorRegistry()
    registry.register(LiveStateCollector(partial(on_loop.run, partial(read_live_gauges, service.cached_states, RoutingConfig()))))
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, mid-iteration included
    try:
        for _ in range(200):
            assert "contact_router_waiting_contacts{" in generate_latest(registry).decode()
    finally:
        sys.setswitchinterval(interval)
        stop.set()
        churning.result(5)
