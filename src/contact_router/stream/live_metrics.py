"""Gauges of live state, computed when Prometheus scrapes, from the domains this worker owns.

Read on the worker's event loop, a few domains per step, and exported from the metrics server's
thread (`OnLoop`): the routing state belongs to the loop.

A domain's state is cached only by the worker that owns its partition (the cache is dropped when
partitions are revoked), so each domain is exported by one worker at a time and sums across workers
are right. Labels are bounded: domain, queue, channel, state; never a contact or customer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine, Iterable, Iterator
from typing import Any, TypeVar

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from contact_router.alerts.state import period_of
from contact_router.contract import AgentState
from contact_router.routing.config import RoutingConfig
from contact_router.routing.model import ContactStatus, DomainState

T = TypeVar("T")
DOMAINS_PER_STEP = 25  # about 3 ms of the loop per step at the demo scenario's domain size


def agent_state(agent_state_value: AgentState, holding: bool) -> str:
    """What a supervisor's wallboard shows: available agents holding contacts are busy."""
    if agent_state_value is AgentState.AVAILABLE and holding:
        return "busy"
    return agent_state_value.value


class LiveStateCollector(Collector):
    """Exports the live gauges read by `read` (on the worker's event loop, see `OnLoop`): this
    runs in the metrics server's thread, where the routing state must not be touched."""

    def __init__(self, read: Callable[[], LiveGauges | None]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauges = self._read()
        if gauges is not None:  # None: the worker has not started its event loop yet
            yield from gauges.families()


class LiveGauges:
    """The live gauges of one scrape, read from the domains' state on the event loop."""

    def __init__(self, per_agent_series: bool) -> None:
        self.waiting = GaugeMetricFamily(
            "contact_router_waiting_contacts", "Contacts waiting for an agent.", labels=["domain", "queue", "channel"]
        )
        self.oldest = GaugeMetricFamily(
            "contact_router_oldest_wait_seconds", "Wait of the longest-waiting contact.", labels=["domain", "queue"]
        )
        self.offers = GaugeMetricFamily(
            "contact_router_offers_pending", "Contacts offered to an agent, not yet accepted.", labels=["domain", "queue"]
        )
        self.agents = GaugeMetricFamily("contact_router_agents", "Agents by state.", labels=["domain", "state"])
        self.queues = _QueueGauges()
        self.occupancy = GaugeMetricFamily(
            "contact_router_occupancy_ratio", "Mean occupancy of logged-in agents (over the occupancy window).",
            labels=["domain"],
        )
        self.agent_occupancy = GaugeMetricFamily(
            "contact_router_agent_occupancy_ratio", "One agent's occupancy (per-agent series are optional).",
            labels=["domain", "agent"],
        )
        self.escalations = GaugeMetricFamily(
            "contact_router_escalations_active", "Early-warning alerts firing now.",
            labels=["domain", "queue", "kind", "severity"],
        )
        self.per_agent_series = per_agent_series

    def add(self, domain: str, state: DomainState, config: RoutingConfig, now: float) -> None:
        counts: Counter[tuple[str, str]] = Counter()
        longest: dict[str, float] = defaultdict(float)
        pending: Counter[str] = Counter()
        for contact in state.contacts.values():
            if contact.status is ContactStatus.WAITING:
                counts[(contact.queue, contact.channel.value)] += 1
                longest[contact.queue] = max(longest[contact.queue], now - contact.arrived_at)
            elif contact.offer_pending():
                pending[contact.queue] += 1
        for (queue, channel), n in sorted(counts.items()):
            self.waiting.add_metric([domain, queue, channel], n)
        for queue, seconds in sorted(longest.items()):
            self.oldest.add_metric([domain, queue], max(seconds, 0.0))
        for queue, n in sorted(pending.items()):
            self.offers.add_metric([domain, queue], n)
        by_state = Counter(agent_state(a.state, bool(a.active)) for a in state.agents.values())
        for name in ("available", "busy", "wrap_up", "away", "offline"):
            self.agents.add_metric([domain, name], by_state.get(name, 0))
        self.queues.add(domain, state, config, now)
        window = config.occupancy_window_seconds
        logged_in = [a for a in state.agents.values() if a.state is not AgentState.OFFLINE]
        if logged_in:
            self.occupancy.add_metric([domain], sum(a.occupancy_now(now, window) for a in logged_in) / len(logged_in))
        if self.per_agent_series:
            for agent in sorted(logged_in, key=lambda a: a.agent_id):
                self.agent_occupancy.add_metric([domain, agent.agent_id], agent.occupancy_now(now, window))
        firing = Counter((a.queue or "", a.kind, a.severity) for a in state.alerts.values() if a.resolved_at is None)
        for (queue, kind, severity), n in sorted(firing.items()):
            self.escalations.add_metric([domain, queue, kind, severity], n)

    def families(self) -> list[GaugeMetricFamily]:
        families = [self.waiting, self.oldest, self.offers, self.agents, *self.queues.families(), self.occupancy, self.escalations]
        return [*families, self.agent_occupancy] if self.per_agent_series else families


async def read_live_gauges(
    cached_states: Callable[[], Iterable[tuple[str, DomainState]]],
    config: RoutingConfig,
    per_agent_limit: int = 0,
    clock: Callable[[], float] = time.time,
    domains_per_step: int = DOMAINS_PER_STEP,
) -> LiveGauges:
    """The live gauges of `states`, read on the event loop that changes them, a few domains at a
    time: between steps the loop routes, so a scrape of many domains does not hold routing up."""
    states = list(cached_states())
    gauges = LiveGauges(per_agent_series=sum(len(s.agents) for _, s in states) <= per_agent_limit)
    for start in range(0, len(states), domains_per_step):
        if start:
            await asyncio.sleep(0)
        now = clock()
        for domain, state in states[start : start + domains_per_step]:
            gauges.add(domain, state, config, now)
    return gauges


class OnLoop:
    """Runs a coroutine on the worker's event loop from another thread (the metrics server's) and
    waits for its result: routing state is changed on that loop, and iterating its dicts from
    another thread meanwhile fails now and then ("dictionary changed size during iteration")."""

    def __init__(self, timeout_seconds: float = 5.0) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timeout = timeout_seconds

    async def attach(self) -> None:
        """Run as a task on the loop to use."""
        self._loop = asyncio.get_running_loop()

    def run(self, coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T | None:
        """The coroutine's result; None while no running loop is attached. Raises TimeoutError
        (the scrape fails, visibly) if the loop does not get to it in time."""
        loop = self._loop
        if loop is None or loop.is_closed() or not loop.is_running():
            return None
        future = asyncio.run_coroutine_threadsafe(coroutine(), loop)
        try:
            return future.result(self._timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise


class _QueueGauges:
    """The queues' half-hour figures and staffing, as the detectors last evaluated them."""

    def __init__(self) -> None:
        labels = ["domain", "queue"]
        self.service_level = GaugeMetricFamily(
            "contact_router_service_level_ratio", "Service level of the current half hour so far.", labels=labels
        )
        self.target = GaugeMetricFamily(
            "contact_router_service_level_target_ratio", "The queue's service-level target.", labels=labels
        )
        self.projected = GaugeMetricFamily(
            "contact_router_service_level_projected_ratio",
            "Service level the current half hour is projected to end with (early warning).", labels=labels,
        )
        self.staffed = GaugeMetricFamily(
            "contact_router_agents_staffed", "Agents on the phones with the queue's skills.", labels=labels
        )
        self.required = GaugeMetricFamily(
            "contact_router_agents_required", "Agents the service-level target needs this half hour, by model.",
            labels=["domain", "queue", "model"],
        )
        self.forecast = GaugeMetricFamily(
            "contact_router_arrivals_forecast", "Arrivals forecast for the current half hour.", labels=labels
        )
        self.current = GaugeMetricFamily(
            "contact_router_arrivals_current", "Arrivals so far in the current half hour.", labels=labels
        )

    def add(self, domain: str, state: DomainState, config: RoutingConfig, now: float) -> None:
        for queue, stats in sorted(state.queues.items()):
            policy = config.policy(queue)
            self.target.add_metric([domain, queue], policy.service_level_target)
            this_half_hour = stats.period_start == period_of(now)
            self.current.add_metric([domain, queue], stats.current.arrived if this_half_hour else 0)
            if this_half_hour and stats.current.offered:
                self.service_level.add_metric([domain, queue], stats.current.met / stats.current.offered)
            if stats.projected_service_level is not None:
                self.projected.add_metric([domain, queue], stats.projected_service_level)
            if stats.evaluated_at is not None:
                self.staffed.add_metric([domain, queue], stats.staffed)
            for model, required in (("erlang_c", stats.required_erlang_c), ("erlang_a", stats.required_erlang_a)):
                if required is not None:
                    self.required.add_metric([domain, queue, model], required)
            if stats.forecast_arrivals is not None:
                self.forecast.add_metric([domain, queue], stats.forecast_arrivals)

    def families(self) -> list[GaugeMetricFamily]:
        return [self.service_level, self.target, self.projected, self.staffed, self.required, self.forecast, self.current]
