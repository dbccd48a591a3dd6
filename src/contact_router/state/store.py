"""The store interface: load a domain's state, commit one event's changes atomically.

A commit succeeds only if the domain is still at the version the decision was computed on and the
event was not applied before; the outputs are kept with the event id (an outbox), so a redelivered
event re-emits exactly the outputs of its first application.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from contact_router.routing.model import Agent, Contact, ContactStatus, DomainState


@dataclass(frozen=True)
class OutputRecord:
    """One message to publish: kept in the outbox until it is on Kafka."""

    topic: str
    key: str
    value: bytes


@dataclass(frozen=True)
class Snapshot:
    version: int
    state: DomainState


class CommitStatus(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # the event was applied before: publish the stored outputs again
    CONFLICT = "conflict"  # the domain changed since it was loaded: reload and decide again


@dataclass(frozen=True)
class CommitResult:
    status: CommitStatus
    version: int = 0
    outputs: list[OutputRecord] = field(default_factory=list)


class InvariantViolation(RuntimeError):
    """The store refused a change that would break a promise (over capacity, double assignment)."""


@dataclass(frozen=True)
class Changes:
    """What one event changed: records to write, and ids to delete (value None)."""

    agents: dict[str, Agent | None]
    contacts: dict[str, Contact | None]

    @classmethod
    def of(cls, state: DomainState) -> Changes:
        return cls(
            agents={aid: state.agents.get(aid) for aid in sorted(state.changed_agents)},
            contacts={cid: state.contacts.get(cid) for cid in sorted(state.changed_contacts)},
        )

    def __bool__(self) -> bool:
        return bool(self.agents or self.contacts)


class StateStore(Protocol):
    async def load(self, domain: str) -> Snapshot: ...

    async def commit(
        self, domain: str, expected_version: int, event_id: str, changes: Changes, outputs: list[OutputRecord]
    ) -> CommitResult: ...

    async def close(self) -> None: ...


def check_invariants(
    old_agents: dict[str, Agent], old_contacts: dict[str, Contact], changes: Changes
) -> None:
    """Promises 2 and 3 at the store: no agent over capacity, new contacts only to available agents,
    no contact moved from one agent to another. The Redis script checks the same rules."""
    for agent_id, agent in changes.agents.items():
        if agent is None:
            continue
        for channel in set(agent.active.values()):
            if agent.load(channel) > agent.capacity.get(channel, 0):
                raise InvariantViolation(f"agent {agent_id} over capacity on {channel}")
        before = old_agents.get(agent_id)
        new_contacts = set(agent.active) - set(before.active if before else ())
        if new_contacts and agent.state.value != "available":
            raise InvariantViolation(f"agent {agent_id} given a contact while {agent.state}")
    for contact_id, contact in changes.contacts.items():
        before_c = old_contacts.get(contact_id)
        if (
            contact is not None
            and before_c is not None
            and before_c.status is ContactStatus.ASSIGNED
            and contact.agent_id != before_c.agent_id
        ):
            raise InvariantViolation(f"contact {contact_id} already assigned to another agent")
