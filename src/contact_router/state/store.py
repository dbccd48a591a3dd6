"""The store interface: load a domain's state, commit the changes of one or more events atomically.

A commit succeeds only if the domain is still at the version the decisions were computed on and none
of its events was applied before; each event's outputs are kept with its id (an outbox), so a
redelivered event re-emits exactly the outputs of its first application. Committing many consecutive
events of a domain at once costs one round trip instead of one per event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from contact_router.alerts.state import ActiveAlert, CustomerHistory, QueueStats
from contact_router.routing.model import Agent, Contact, ContactStatus, DomainState


@dataclass(frozen=True)
class OutputRecord:
    """One message to publish: kept in the outbox until it is on Kafka."""

    topic: str
    key: str
    value: bytes


@dataclass(frozen=True)
class Outbox:
    """One applied event's id and the outputs it produced, kept together so a redelivery re-emits them."""

    event_id: str
    outputs: list[OutputRecord]
    # Each event that changed the state is one step of the domain's version, however the events were
    # batched: a rebuild replaying them in other batches ends at the same version.
    changed_state: bool = True


@dataclass(frozen=True)
class Snapshot:
    version: int
    state: DomainState


class CommitStatus(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # an event was applied before: nothing written; its stored outputs returned
    CONFLICT = "conflict"  # the domain changed since it was loaded: reload and decide again


@dataclass(frozen=True)
class CommitResult:
    status: CommitStatus
    version: int = 0
    outputs: list[OutputRecord] = field(default_factory=list)  # DUPLICATE: the stored outputs of...
    duplicate: int = 0  # ...the first event (its index in the commit) that was applied before


class StoreLost(RuntimeError):
    """The store's marker is gone: its state was lost (FLUSHALL, a fresh server) and must be rebuilt
    from Kafka (`contact-router rebuild`) before routing on it again."""


class InvariantViolation(RuntimeError):
    """The store refused a change that would break a promise (over capacity, double assignment)."""


@dataclass(frozen=True)
class Changes:
    """What the events of a commit changed: records to write, and ids to delete (value None). Customer histories
    are never deleted by an event: they expire with the store's customer TTL."""

    agents: dict[str, Agent | None]
    contacts: dict[str, Contact | None]
    queues: dict[str, QueueStats | None] = field(default_factory=dict)
    alerts: dict[str, ActiveAlert | None] = field(default_factory=dict)
    customers: dict[str, CustomerHistory] = field(default_factory=dict)

    @classmethod
    def of(cls, state: DomainState) -> Changes:
        return cls(
            agents={aid: state.agents.get(aid) for aid in sorted(state.changed_agents)},
            contacts={cid: state.contacts.get(cid) for cid in sorted(state.changed_contacts)},
            queues={q: state.queues.get(q) for q in sorted(state.changed_queues)},
            alerts={k: state.alerts.get(k) for k in sorted(state.changed_alerts)},
            customers={r: state.customers[r] for r in sorted(state.changed_customers) if r in state.customers},
        )

    def __bool__(self) -> bool:
        return bool(self.agents or self.contacts or self.queues or self.alerts or self.customers)


@dataclass(frozen=True)
class Reindex:
    """A new entry of the deadline index: when the domain next needs a timer (None: never), so a
    restarted worker re-arms it. The index is a hint, not state: it is written beside the commit,
    in the same round trip, but not in its transaction (in a Redis Cluster it lives in another slot)."""

    deadline: float | None


class StateStore(Protocol):
    async def load(self, domain: str) -> Snapshot: ...

    async def commit(
        self,
        domain: str,
        expected_version: int,
        events: Sequence[Outbox],
        changes: Changes,
        reindex: Reindex | None = None,
    ) -> CommitResult:
        """Apply the changes of these consecutive events and keep their outputs, atomically, if the
        domain is still at `expected_version` and every event is new; with `reindex`, also update the
        deadline index."""
        ...

    async def load_customers(self, domain: str, refs: list[str]) -> dict[str, CustomerHistory]:
        """The histories of these customers that are kept (unknown or expired ones are left out)."""
        ...

    async def indexed_deadlines(self) -> dict[str, float]: ...

    async def ping(self) -> bool:
        """Is the store reachable now (one quick try)?"""
        ...

    async def close(self) -> None: ...


def check_invariants(
    old_agents: dict[str, Agent], old_contacts: dict[str, Contact], changes: Changes
) -> None:
    """Promises 2 and 3 at the store, whatever the caller computed (the Redis script checks the same):
    no contact given beyond capacity; new contacts only to available agents; a contact held by one agent only:
    (A) a contact an agent newly holds is assigned to that agent, and (B) a contact that leaves an
    agent is released by that agent in the same commit."""
    def contact_now(contact_id: str) -> Contact | None:
        return changes.contacts[contact_id] if contact_id in changes.contacts else old_contacts.get(contact_id)

    for agent_id, agent in changes.agents.items():
        if agent is None:
            continue
        before = old_agents.get(agent_id)
        new_contacts = set(agent.active) - set(before.active if before else ())
        # Capacity binds where the agent gains a contact: a lowered capacity (a new login) does not
        # take away contacts already in progress.
        for channel in {agent.active[c] for c in new_contacts}:
            if agent.load(channel) > agent.capacity.get(channel, 0):
                raise InvariantViolation(f"agent {agent_id} over capacity on {channel}")
        if new_contacts and agent.state.value != "available":
            raise InvariantViolation(f"agent {agent_id} given a contact while {agent.state}")
        for contact_id in new_contacts:
            held = contact_now(contact_id)
            if held is None or held.status is not ContactStatus.ASSIGNED or held.agent_id != agent_id:
                raise InvariantViolation(f"agent {agent_id} holds {contact_id}, which is not assigned to it")
    for contact_id, contact in changes.contacts.items():
        before_c = old_contacts.get(contact_id)
        if before_c is None or before_c.status is not ContactStatus.ASSIGNED:
            continue
        if contact is not None and contact.agent_id == before_c.agent_id:
            continue
        previous = before_c.agent_id or ""
        if previous not in changes.agents or contact_id in (changes.agents[previous] or _NOBODY).active:
            raise InvariantViolation(f"contact {contact_id} left agent {previous} without being released")


_NOBODY = Agent(agent_id="", skills={}, capacity={})
