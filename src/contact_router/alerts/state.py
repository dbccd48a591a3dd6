"""What the detectors remember between events, kept in the store with the domain's agents and contacts.

Plain data with no behaviour beyond bookkeeping, so the store can persist it and a replay rebuilds it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

HALF_HOUR = 1800.0


def period_of(t: float) -> float:
    """Start of the half hour containing t (POSIX seconds, aligned to UTC half hours)."""
    return math.floor(t / HALF_HOUR) * HALF_HOUR


@dataclass
class PeriodCounts:
    """One queue's contacts in one half hour, counted when they happen (an answer at 10:31 counts in
    the 10:30 half hour, whenever the contact arrived)."""

    arrived: int = 0
    answered: int = 0
    met: int = 0  # answered within the service-level threshold
    abandoned: int = 0  # abandoned or expired while waiting (or ringing)

    @property
    def offered(self) -> int:
        """The service level's denominator: contacts whose wait ended, answered or not."""
        return self.answered + self.abandoned


@dataclass
class QueueStats:
    """Running figures of one queue: this half hour, the one before, and its handle time."""

    period_start: float = 0.0
    current: PeriodCounts = field(default_factory=PeriodCounts)
    previous: PeriodCounts = field(default_factory=PeriodCounts)
    aht: float | None = None  # moving average of handle time (talk + hold + wrap-up), seconds
    finished: int = 0  # contacts whose handle time went into `aht`
    channel: str = "voice"
    skills: dict[str, int] = field(default_factory=dict)  # the last arrival's requirements: who can serve it
    language: str | None = None
    evaluated_at: float | None = None
    # The last evaluation, for the live gauges: figures a supervisor and the alert rules read.
    projected_service_level: float | None = None
    staffed: int = 0
    required_erlang_c: int | None = None
    required_erlang_a: int | None = None
    forecast_arrivals: float | None = None

    def roll(self, now: float) -> None:
        """Move to the half hour containing now; an idle gap leaves nothing from before it."""
        start = period_of(now)
        if start == self.period_start:
            return
        self.previous = self.current if start - self.period_start == HALF_HOUR else PeriodCounts()
        self.current = PeriodCounts()
        self.period_start = start


@dataclass
class ActiveAlert:
    """An alert that fired and is not finished with: firing, or resolved and cooling down."""

    alert_id: str
    kind: str
    severity: str
    subject_kind: str  # contact | queue | agent
    subject_id: str
    queue: str | None
    fired_at: float
    resolved_at: float | None = None
    cooldown_seconds: float = 0.0  # after resolving, the same alert may not fire again for this long

    @property
    def key(self) -> str:
        return alert_key(self.kind, self.subject_kind, self.subject_id)


def alert_key(kind: str, subject_kind: str, subject_id: str) -> str:
    return f"{kind}|{subject_kind}|{subject_id}"


@dataclass
class CustomerHistory:
    """A customer's recent contacts (at, queue, channel), newest last, and their last CSAT."""

    contacts: list[tuple[float, str, str]] = field(default_factory=list)
    last_csat: int | None = None

    def remember(self, at: float, queue: str, channel: str, keep_seconds: float, keep_at_most: int = 50) -> None:
        self.contacts = [c for c in self.contacts if c[0] > at - keep_seconds][-(keep_at_most - 1) :]
        self.contacts.append((at, queue, channel))
