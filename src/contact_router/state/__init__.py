"""Live state behind one interface: an in-memory store (unit tests, offline simulator) and Redis."""

from contact_router.state.memory import InMemoryStore
from contact_router.state.store import (
    CommitResult,
    CommitStatus,
    InvariantViolation,
    Outbox,
    OutputRecord,
    Snapshot,
    StateStore,
)

__all__ = [
    "CommitResult",
    "CommitStatus",
    "InMemoryStore",
    "InvariantViolation",
    "Outbox",
    "OutputRecord",
    "Snapshot",
    "StateStore",
]
