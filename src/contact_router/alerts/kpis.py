"""What happened to contacts, in the terms supervisors measure: the facts behind service level, ASA,
AHT, abandonment, first-contact resolution, repeats and CSAT.

The detectors derive them once per applied event (from the event, its decisions and the state before
it) and count them into the queue's figures; the worker's metrics count the same facts, so the
dashboards and the early warnings never disagree about what an answer or an abandon is.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Arrived:
    queue: str
    channel: str


@dataclass(frozen=True)
class Answered:
    """An agent took the contact: an accepted offer, or an assignment where offers need no answer."""

    queue: str
    channel: str
    waited_seconds: float
    within_threshold: bool


@dataclass(frozen=True)
class Abandoned:
    """The wait ended without an agent: the customer hung up, or the sweeper expired the contact."""

    queue: str
    channel: str
    waited_seconds: float
    expired: bool = False


@dataclass(frozen=True)
class Finished:
    """A handled contact ended: its handle time includes hold and the queue's wrap-up."""

    queue: str
    channel: str
    agent_id: str
    location: str  # home | office | other: bounded, for AHT by location
    handle_seconds: float
    resolved: bool
    first_contact_resolution: bool  # resolved, never transferred, and not a repeat of a recent contact
    csat: int | None
    repeat_after_seconds: float | None  # since the customer's previous contact in the queue


@dataclass(frozen=True)
class Transferred:
    queue: str  # the queue it left
    channel: str


@dataclass(frozen=True)
class CallbackRequested:
    queue: str
    channel: str


Fact = Arrived | Answered | Abandoned | Finished | Transferred | CallbackRequested

LOCATIONS = ("home", "office")


def location_label(location: str | None) -> str:
    """Agents report free text; metric labels must stay bounded."""
    return location if location in LOCATIONS else "other"
