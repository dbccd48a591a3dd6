"""Gauges of live state, computed when Prometheus scrapes, from the domains this worker owns.

A domain's state is cached only by the worker that owns its partition (the cache is dropped when
partitions are revoked), so each domain is exported by one worker at a time and sums across workers
are right. Labels are bounded: domain, queue, channel, state; never a contact or customer.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from contact_router.contract import AgentState
from contact_router.routing.model import ContactStatus, DomainState


def agent_state(agent_state_value: AgentState, holding: bool) -> str:
    """What a supervisor's wallboard shows: available agents holding contacts are busy."""
    if agent_state_value is AgentState.AVAILABLE and holding:
        return "busy"
    return agent_state_value.value


class LiveStateCollector(Collector):
    def __init__(self, states: Callable[[], Iterable[tuple[str, DomainState]]], clock: Callable[[], float] = time.time):
        self._states = states
        self._clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self._clock()
        waiting = GaugeMetricFamily(
            "contact_router_waiting_contacts", "Contacts waiting for an agent.", labels=["domain", "queue", "channel"]
        )
        oldest = GaugeMetricFamily(
            "contact_router_oldest_wait_seconds", "Wait of the longest-waiting contact.", labels=["domain", "queue"]
        )
        offers = GaugeMetricFamily(
            "contact_router_offers_pending", "Contacts offered to an agent, not yet accepted.", labels=["domain", "queue"]
        )
        agents = GaugeMetricFamily("contact_router_agents", "Agents by state.", labels=["domain", "state"])
        for domain, state in self._states():
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
                waiting.add_metric([domain, queue, channel], n)
            for queue, seconds in sorted(longest.items()):
                oldest.add_metric([domain, queue], max(seconds, 0.0))
            for queue, n in sorted(pending.items()):
                offers.add_metric([domain, queue], n)
            by_state = Counter(agent_state(a.state, bool(a.active)) for a in state.agents.values())
            for name in ("available", "busy", "wrap_up", "away", "offline"):
                agents.add_metric([domain, name], by_state.get(name, 0))
        yield from (waiting, oldest, offers, agents)
