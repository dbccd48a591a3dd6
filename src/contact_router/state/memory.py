"""An in-memory store with the Redis store's semantics, for unit tests and the offline simulator."""

from __future__ import annotations

from dataclasses import dataclass, field

from contact_router.routing.model import DomainState
from contact_router.state.records import agent_from_record, agent_to_record, contact_from_record, contact_to_record
from contact_router.state.store import (
    Changes,
    CommitResult,
    CommitStatus,
    OutputRecord,
    Snapshot,
    check_invariants,
)


@dataclass
class _Domain:
    version: int = 0
    agents: dict[str, bytes] = field(default_factory=dict)
    contacts: dict[str, bytes] = field(default_factory=dict)
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
        )
        return Snapshot(d.version, state)

    async def commit(
        self, domain: str, expected_version: int, event_id: str, changes: Changes, outputs: list[OutputRecord]
    ) -> CommitResult:
        d = self._domains.setdefault(domain, _Domain())
        if event_id in d.events:
            return CommitResult(CommitStatus.DUPLICATE, d.version, d.events[event_id])
        if d.version != expected_version:
            return CommitResult(CommitStatus.CONFLICT, d.version)
        if changes:
            check_invariants(
                {aid: agent_from_record(d.agents[aid]) for aid in changes.agents if aid in d.agents},
                {cid: contact_from_record(r) for cid, r in d.contacts.items()},
                changes,
            )
            for aid, agent in changes.agents.items():
                if agent is None:
                    d.agents.pop(aid, None)
                else:
                    d.agents[aid] = agent_to_record(agent)
            for cid, contact in changes.contacts.items():
                if contact is None:
                    d.contacts.pop(cid, None)
                else:
                    d.contacts[cid] = contact_to_record(contact)
            d.version += 1
        d.events[event_id] = list(outputs)
        return CommitResult(CommitStatus.APPLIED, d.version)

    async def index_deadline(self, domain: str, deadline: float | None) -> None:
        if deadline is None:
            self._deadlines.pop(domain, None)
        else:
            self._deadlines[domain] = deadline

    async def indexed_deadlines(self) -> dict[str, float]:
        return dict(self._deadlines)

    async def close(self) -> None:
        return None
