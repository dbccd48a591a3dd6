"""An in-memory store with the Redis store's semantics, for unit tests and the offline simulator."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from contact_router.alerts.state import CustomerHistory
from contact_router.routing.model import DomainState
from contact_router.state.records import (
    agent_from_record,
    agent_to_record,
    alert_from_record,
    alert_to_record,
    contact_from_record,
    contact_to_record,
    customer_from_record,
    customer_to_record,
    queue_from_record,
    queue_to_record,
)
from contact_router.state.store import (
    Changes,
    CommitResult,
    CommitStatus,
    Outbox,
    OutputRecord,
    Reindex,
    Snapshot,
    check_invariants,
)


@dataclass
class _Domain:
    version: int = 0
    agents: dict[str, bytes] = field(default_factory=dict)
    contacts: dict[str, bytes] = field(default_factory=dict)
    queues: dict[str, bytes] = field(default_factory=dict)
    alerts: dict[str, bytes] = field(default_factory=dict)
    customers: dict[str, bytes] = field(default_factory=dict)  # no expiry here: tests and simulations are short
    events: dict[str, list[OutputRecord]] = field(default_factory=dict)


class InMemoryStore:
    """Keeps serialised records, as Redis does, so a loaded state never aliases the stored one."""

    def __init__(self) -> None:
        self._domains: dict[str, _Domain] = {}
        self._deadlines: dict[str, float] = {}

    async def load(self, domain: str) -> Snapshot:
        d = self._domains.get(domain, _Domain())
        state = DomainState(
            agents={aid: agent_from_record(r) for aid, r in d.agents.items()},
            contacts={cid: contact_from_record(r) for cid, r in d.contacts.items()},
            queues={q: queue_from_record(r) for q, r in d.queues.items()},
            alerts={k: alert_from_record(r) for k, r in d.alerts.items()},
        )
        return Snapshot(d.version, state)

    async def load_customers(self, domain: str, refs: list[str]) -> dict[str, CustomerHistory]:
        d = self._domains.get(domain, _Domain())
        return {ref: customer_from_record(d.customers[ref]) for ref in refs if ref in d.customers}

    async def commit(
        self,
        domain: str,
        expected_version: int,
        events: Sequence[Outbox],
        changes: Changes,
        reindex: Reindex | None = None,
    ) -> CommitResult:
        if reindex is not None:
            self._index_deadline(domain, reindex.deadline)
        d = self._domains.setdefault(domain, _Domain())
        for index, event in enumerate(events):
            if event.event_id in d.events:
                return CommitResult(CommitStatus.DUPLICATE, d.version, d.events[event.event_id], index)
        if d.version != expected_version:
            return CommitResult(CommitStatus.CONFLICT, d.version)
        if changes:
            check_invariants(
                {aid: agent_from_record(d.agents[aid]) for aid in changes.agents if aid in d.agents},
                {cid: contact_from_record(r) for cid, r in d.contacts.items()},
                changes,
            )
            _write(d.agents, changes.agents, agent_to_record)
            _write(d.contacts, changes.contacts, contact_to_record)
            _write(d.queues, changes.queues, queue_to_record)
            _write(d.alerts, changes.alerts, alert_to_record)
            _write(d.customers, changes.customers, customer_to_record)
        d.version += sum(1 for event in events if event.changed_state)
        for event in events:
            d.events[event.event_id] = list(event.outputs)
        return CommitResult(CommitStatus.APPLIED, d.version)

    def _index_deadline(self, domain: str, deadline: float | None) -> None:
        if deadline is None:
            self._deadlines.pop(domain, None)
        else:
            self._deadlines[domain] = deadline

    async def indexed_deadlines(self) -> dict[str, float]:
        return dict(self._deadlines)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None


def _write(records: dict[str, bytes], changed: Mapping[str, Any], encode: Callable[[Any], bytes]) -> None:
    for key, value in changed.items():
        if value is None:
            records.pop(key, None)
        else:
            records[key] = encode(value)
