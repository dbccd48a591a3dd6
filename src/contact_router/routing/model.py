"""Live state of one routing domain: agents and the contacts not yet finished."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from contact_router.alerts.state import ActiveAlert, CustomerHistory, QueueStats
from contact_router.contract import AgentState, Channel

# A timer's event time can land a hair before its deadline: it travels as RFC 3339 (microseconds)
# and POSIX seconds near 1.7e9 are floats with ~0.24 us resolution. Deadlines count as reached this
# close, or a timer would fire, change nothing and ask for itself again.
DUE_TOLERANCE_SECONDS = 0.001


class ContactStatus(StrEnum):
    WAITING = "waiting"
    ASSIGNED = "assigned"


@dataclass
class Agent:
    agent_id: str
    skills: dict[str, int]
    capacity: dict[Channel, int]
    languages: list[str] = field(default_factory=list)
    location: str | None = None
    state: AgentState = AgentState.AVAILABLE
    # contact_id -> channel of every contact the agent holds now.
    active: dict[str, Channel] = field(default_factory=dict)
    # When the agent last became free of all contacts: longest idle goes first on ties.
    idle_since: float = 0.0
    reason: str | None = None  # why away (e.g. missed_offers), as reported or as the router decided
    wrap_up_until: float | None = None  # timed after-contact work ends then
    missed_offers: int = 0  # offers not answered in a row
    last_assigned_at: float | None = None  # round robin: the longest since an assignment goes first
    # Occupancy: an average of "holding a contact" (1) or not (0), decaying with the window's time
    # constant, as of occupancy_at; O(1) to keep and to read at any time.
    occupancy: float = 0.0
    occupancy_at: float | None = None

    def load(self, channel: Channel) -> int:
        return sum(1 for held in self.active.values() if held == channel)

    def free_capacity(self, channel: Channel) -> int:
        return self.capacity.get(channel, 0) - self.load(channel)

    def occupancy_now(self, now: float, window: float) -> float:
        if self.occupancy_at is None:
            return 0.0
        keep = math.exp(-max(now - self.occupancy_at, 0.0) / window)
        busy = 1.0 if self.active else 0.0
        return self.occupancy * keep + busy * (1.0 - keep)

    def settle_occupancy(self, now: float, window: float) -> None:
        """Fold the time since the last change into the average; call before `active` changes."""
        self.occupancy = self.occupancy_now(now, window)
        self.occupancy_at = now

    def can_take(self, channel: Channel, blocks: Mapping[str, list[str]]) -> bool:
        """Routable now: available, with room on the channel, and nothing held that blocks it."""
        if self.state is not AgentState.AVAILABLE or self.free_capacity(channel) <= 0:
            return False
        return not any(channel in blocks.get(held, ()) for held in set(self.active.values()))


@dataclass
class Contact:
    contact_id: str
    channel: Channel
    queue: str
    skills: dict[str, int]
    arrived_at: float
    language: str | None = None
    priority: int = 0
    customer_ref: str | None = None
    status: ContactStatus = ContactStatus.WAITING
    agent_id: str | None = None
    assigned_at: float | None = None
    accepted: bool = False  # the agent answered the offer (always true without offer timeouts)
    offer_expires_at: float | None = None
    skipped_agents: list[str] = field(default_factory=list)  # declined or missed this contact
    # Relaxation: `skills` and `language` are the requirements now; these are the ones it arrived with.
    relaxation_step: int = 0
    base_skills: dict[str, int] | None = None
    base_language: str | None = None
    callback: bool = False  # the customer asked to be called back instead of waiting on the line
    preferred_agent_id: str | None = None
    preferred_until: float | None = None  # while set, only the preferred agent may take the contact
    transfers: int = 0
    previous_agents: list[str] = field(default_factory=list)
    first_arrived_at: float | None = None  # before transfers restarted the wait in another queue
    holds: int = 0
    on_hold: bool = False
    sentiment: float | None = None  # the customer's last sentiment score, and when it came
    sentiment_at: float | None = None
    sentiment_prev: float | None = None  # the one before it: a fast fall is a warning
    sentiment_prev_at: float | None = None
    repeat_after_seconds: float | None = None  # since the same customer's last contact in this queue

    def offer_pending(self) -> bool:
        return self.status is ContactStatus.ASSIGNED and not self.accepted

    def queue_order(self, now: float = 0.0, aging_per_minute: float = 0.0) -> tuple[float, float, str]:
        """Highest effective priority first (priority, plus aging while waiting), then longest
        waiting; the id keeps the order total."""
        aged = aging_per_minute * max(now - self.arrived_at, 0.0) / 60.0 if aging_per_minute else 0.0
        return (-(self.priority + aged), self.arrived_at, self.contact_id)


class Handling(NamedTuple):
    """A contact in progress, for the long-handle warning."""

    since: float  # when it was assigned
    queue: str
    agent_id: str | None


@dataclass
class KeptDeadlines:
    """Each live contact's part in the domain's next deadline, derived from the contact alone and
    kept until it changes (core.Engine.next_deadline), with the engine that worked them out. Never
    stored. Plain floats, so the earliest is `min` over a dict's values."""

    engine: int | None = None
    router: dict[str, float] = field(default_factory=dict)  # the router's deadline, inf if none: every live contact
    long_wait: dict[str, float] = field(default_factory=dict)  # when its wait becomes long enough to warn of
    handling: dict[str, Handling] = field(default_factory=dict)  # in progress, watched for a long handle

    def drop(self, contact_id: str) -> None:
        self.router.pop(contact_id, None)
        self.long_wait.pop(contact_id, None)
        self.handling.pop(contact_id, None)

    def reset(self, engine: int) -> None:
        self.engine = engine
        self.router.clear()
        self.long_wait.clear()
        self.handling.clear()


@dataclass
class DomainState:
    """All live state of one routing domain, with a record of what changed since it was loaded."""

    agents: dict[str, Agent] = field(default_factory=dict)
    contacts: dict[str, Contact] = field(default_factory=dict)
    # The early-warning detectors' memory: per-queue figures, alerts firing or cooling down, and the
    # customers the current event concerns (loaded for it; the store keeps them apart, with a TTL).
    queues: dict[str, QueueStats] = field(default_factory=dict)
    alerts: dict[str, ActiveAlert] = field(default_factory=dict)
    customers: dict[str, CustomerHistory] = field(default_factory=dict)
    changed_agents: set[str] = field(default_factory=set)
    changed_contacts: set[str] = field(default_factory=set)
    changed_queues: set[str] = field(default_factory=set)
    changed_alerts: set[str] = field(default_factory=set)
    changed_customers: set[str] = field(default_factory=set)
    # Changes recorded so far (touches, removals): tells whether one event of a batch changed anything.
    change_count: int = field(default=0, compare=False)
    kept_deadlines: KeptDeadlines = field(default_factory=KeptDeadlines, compare=False, repr=False)

    def touch_agent(self, agent: Agent) -> None:
        self.agents[agent.agent_id] = agent
        self.changed_agents.add(agent.agent_id)
        self.change_count += 1

    def touch_contact(self, contact: Contact) -> None:
        self.contacts[contact.contact_id] = contact
        self.changed_contacts.add(contact.contact_id)
        self.change_count += 1
        self.kept_deadlines.drop(contact.contact_id)

    def remove_contact(self, contact_id: str) -> None:
        """Forget a finished contact; the change set records the removal."""
        self.contacts.pop(contact_id, None)
        self.changed_contacts.add(contact_id)
        self.change_count += 1
        self.kept_deadlines.drop(contact_id)

    def touch_queue(self, queue: str, stats: QueueStats) -> None:
        self.queues[queue] = stats
        self.changed_queues.add(queue)
        self.change_count += 1

    def touch_alert(self, alert: ActiveAlert) -> None:
        self.alerts[alert.key] = alert
        self.changed_alerts.add(alert.key)
        self.change_count += 1

    def remove_alert(self, key: str) -> None:
        self.alerts.pop(key, None)
        self.changed_alerts.add(key)
        self.change_count += 1

    def touch_customer(self, ref: str, history: CustomerHistory) -> None:
        self.customers[ref] = history
        self.changed_customers.add(ref)
        self.change_count += 1

    def waiting(self) -> list[Contact]:
        return [c for c in self.contacts.values() if c.status is ContactStatus.WAITING]

    def clear_changes(self) -> None:
        self.changed_agents.clear()
        self.changed_contacts.clear()
        self.changed_queues.clear()
        self.changed_alerts.clear()
        self.changed_customers.clear()
