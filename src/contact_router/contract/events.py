"""Every event type's payload (the envelope's `data`), inputs and outputs.

Public names are fixed: platforms and tests rely on them. Changes are additive only.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contact_router.contract.envelope import DecodeError, Envelope, validation_summary

Level = Annotated[int, Field(ge=1, le=5)]
Identifier = Annotated[str, Field(min_length=1, max_length=200)]
SkillName = Annotated[str, Field(min_length=1, max_length=100)]


class Channel(StrEnum):
    VOICE = "voice"
    CHAT = "chat"
    EMAIL = "email"
    SOCIAL = "social"


class AgentState(StrEnum):
    """States an agent (or its platform) reports. Busy is derived: an available agent holding contacts."""

    AVAILABLE = "available"
    AWAY = "away"
    WRAP_UP = "wrap_up"
    OFFLINE = "offline"


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


# ---------------------------------------------------------------- inputs


class ContactArrived(_Payload):
    """A customer contact arrived and needs an agent."""

    contact_id: Identifier
    channel: Channel
    queue: Identifier
    skills: dict[SkillName, Level] = Field(default_factory=dict, description="Required skill -> minimum level.")
    language: str | None = Field(default=None, max_length=35, description="Required language (BCP 47 tag).")
    priority: int = Field(default=0, ge=-1000, le=1000, description="Higher is served first.")
    customer_ref: str | None = Field(
        default=None,
        max_length=200,
        description="Customer reference: the router hashes it (HMAC-SHA256, secret key) on arrival and keeps only "
        "the hash, so the same customer's contacts link up; never logged.",
    )
    preferred_agent_id: Identifier | None = Field(
        default=None, description="A named agent, or the customer's last agent: offered first, for a bounded time."
    )


class ContactEnded(_Payload):
    """The agent finished the contact: its capacity frees up."""

    contact_id: Identifier
    resolved: bool = True
    csat: Level | None = None


class ContactAbandoned(_Payload):
    """The customer hung up or left while waiting."""

    contact_id: Identifier


class AgentLoggedIn(_Payload):
    """An agent logged in, with skills, per-channel capacity and an initial state (available by default)."""

    agent_id: Identifier
    skills: dict[SkillName, Level] = Field(default_factory=dict, description="Skill -> proficiency level.")
    capacity: dict[Channel, Annotated[int, Field(ge=0, le=100)]] = Field(
        default_factory=lambda: {Channel.VOICE: 1}, description="Channel -> concurrent contacts."
    )
    languages: list[Annotated[str, Field(max_length=35)]] = Field(default_factory=list)
    location: str | None = Field(default=None, max_length=50, description="e.g. home or office.")
    state: AgentState = AgentState.AVAILABLE


class AgentStateChanged(_Payload):
    """The agent became available, went away (with a reason), into wrap-up, or offline."""

    agent_id: Identifier
    state: AgentState
    reason: str | None = Field(default=None, max_length=100)


class AgentLoggedOut(_Payload):
    """The agent logged out: no new contacts; contacts in progress still end normally."""

    agent_id: Identifier


class AgentSkillsChanged(_Payload):
    """The agent's skills (and optionally languages) changed; contacts in progress are unaffected."""

    agent_id: Identifier
    skills: dict[SkillName, Level]
    languages: list[Annotated[str, Field(max_length=35)]] | None = None


class ContactAccepted(_Payload):
    """The agent answered the offered contact."""

    contact_id: Identifier
    agent_id: Identifier


class ContactRejected(_Payload):
    """The agent declined the offered contact."""

    contact_id: Identifier
    agent_id: Identifier
    reason: str | None = Field(default=None, max_length=100)


class ContactNotAnswered(_Payload):
    """The platform gave up ringing the agent (ring timeout)."""

    contact_id: Identifier
    agent_id: Identifier


class ContactTransferred(_Payload):
    """The agent transferred the contact to another queue, or to a named agent or supervisor."""

    contact_id: Identifier
    to_queue: Identifier | None = None
    to_agent_id: Identifier | None = None
    skills: dict[SkillName, Level] | None = Field(default=None, description="New requirements, if they change.")
    reason: str | None = Field(default=None, max_length=100)


class ContactHeld(_Payload):
    """The customer was put on hold."""

    contact_id: Identifier


class ContactResumed(_Payload):
    """The customer was taken off hold."""

    contact_id: Identifier


class ContactCallbackRequested(_Payload):
    """A waiting customer asked to be called back instead of waiting on the line."""

    contact_id: Identifier
    callback_ref: str | None = Field(default=None, max_length=200, description="Opaque; never logged.")


class ContactSentiment(_Payload):
    """A sentiment reading on a live contact, from speech or text analytics."""

    contact_id: Identifier
    score: float = Field(ge=-1.0, le=1.0, description="-1 very negative .. 1 very positive.")


class TimerFired(_Payload):
    """Published by the worker that owns a domain when one of its deadlines (offer timeout, end of
    wrap-up) is reached; the envelope's time is the deadline. Travelling through the input topic
    makes time-driven work ordered, deduplicated and replayable like any other input."""


# ---------------------------------------------------------------- outputs


class ContactAssigned(_Payload):
    """Routing decision: this contact goes to this agent."""

    decision_id: str
    contact_id: str
    agent_id: str
    queue: str
    channel: Channel
    score: float
    waited_seconds: float
    relaxation_step: int = 0
    matched_skills: dict[str, int] = Field(default_factory=dict, description="Required skill -> agent's level.")
    policy: str = Field("blend", description="The queue's scoring policy that chose the agent.")
    callback: bool = Field(False, description="The customer asked for a callback: the agent calls them back.")
    offer_timeout_seconds: float | None = Field(
        None, description="An offer: ring the agent and send contact.accepted within this. None: final, connect now."
    )
    transfers: int = Field(0, description="Times this contact was transferred before.")
    previous_agents: list[str] = Field(default_factory=list, description="Agents who handled it before, in order.")
    score_components: dict[str, float] = Field(
        default_factory=dict,
        description="What the score was made of: proficiency, idle_seconds, occupancy, since_last_assignment_seconds.",
    )
    trigger_event_id: str = Field(description="The input event whose processing made this decision.")


class ContactQueued(_Payload):
    """No suitable agent is free: the contact waits."""

    decision_id: str
    contact_id: str
    queue: str
    channel: Channel
    position: int = Field(description="1-based place among waiting contacts of its queue.")
    reason: Literal["no_free_agent", "no_eligible_agent"]
    trigger_event_id: str


class ContactClosed(_Payload):
    """A contact reached its terminal outcome."""

    decision_id: str
    contact_id: str
    queue: str
    channel: Channel
    outcome: Literal["completed", "abandoned", "expired"]
    agent_id: str | None = None
    waited_seconds: float
    handled_seconds: float | None = None
    trigger_event_id: str


class OfferTimedOut(_Payload):
    """An offer was not answered in time: the contact went back to its place in the queue."""

    decision_id: str
    contact_id: str
    agent_id: str
    queue: str
    requeued: bool
    trigger_event_id: str


class AgentPaused(_Payload):
    """The router set an agent away, e.g. after too many missed offers in a row."""

    decision_id: str
    agent_id: str
    reason: Literal["missed_offers"]
    missed_offers: int
    trigger_event_id: str


class EscalationSubject(_Payload):
    kind: Literal["contact", "queue", "agent"]
    id: str
    queue: str | None = None


class EscalationAlert(_Payload):
    """An early warning for supervisors, firing or resolved."""

    alert_id: str = Field(
        description="The same when firing and resolved, and when replayed; unique across domains: "
        "<domain>/<kind>:<subject kind>:<subject id>:<fired at, epoch ms>. Best treated as opaque."
    )
    kind: str = Field(description="e.g. sla_at_risk, sentiment_falling, handle_time_high.")
    severity: Literal["info", "warning", "page"]
    subject: EscalationSubject
    evidence: dict[str, float | int | str] = Field(default_factory=dict, description="The numbers that triggered it.")
    status: Literal["firing", "resolved"]


# A dead letter must fit in one Kafka message (1 MB by default) with its input in base64 (4/3 larger).
DEAD_LETTER_RAW_BYTES = 512 * 1024


class DeadLetter(_Payload):
    """An input that could not be processed, kept with the reason and where it came from."""

    reason: str
    topic: str
    partition: int
    offset: int
    raw_base64: str = Field(
        description="The input's bytes as received, except customer_ref and callback_ref values: their hashes."
    )
    event_id: str | None = None
    event_type: str | None = None
    raw_truncated: bool = Field(
        False, description=f"raw_base64 holds only the input's first {DEAD_LETTER_RAW_BYTES} bytes."
    )


InputEvent = (
    ContactArrived
    | ContactEnded
    | ContactAbandoned
    | ContactAccepted
    | ContactRejected
    | ContactNotAnswered
    | ContactTransferred
    | ContactHeld
    | ContactResumed
    | ContactCallbackRequested
    | ContactSentiment
    | AgentLoggedIn
    | AgentStateChanged
    | AgentSkillsChanged
    | AgentLoggedOut
    | TimerFired
)
OutputEvent = (
    ContactAssigned | ContactQueued | ContactClosed | OfferTimedOut | AgentPaused | EscalationAlert | DeadLetter
)

INPUT_TYPES: dict[str, type[_Payload]] = {
    "contact.arrived": ContactArrived,
    "contact.ended": ContactEnded,
    "contact.abandoned": ContactAbandoned,
    "contact.accepted": ContactAccepted,
    "contact.rejected": ContactRejected,
    "contact.not_answered": ContactNotAnswered,
    "contact.transferred": ContactTransferred,
    "contact.held": ContactHeld,
    "contact.resumed": ContactResumed,
    "contact.callback_requested": ContactCallbackRequested,
    "contact.sentiment": ContactSentiment,
    "agent.logged_in": AgentLoggedIn,
    "agent.state_changed": AgentStateChanged,
    "agent.skills_changed": AgentSkillsChanged,
    "agent.logged_out": AgentLoggedOut,
    "timer.fired": TimerFired,
}
OUTPUT_TYPES: dict[str, type[_Payload]] = {
    "contact.assigned": ContactAssigned,
    "contact.queued": ContactQueued,
    "contact.closed": ContactClosed,
    "contact.offer_timed_out": OfferTimedOut,
    "agent.paused": AgentPaused,
    "escalation.alert": EscalationAlert,
    "dead_letter": DeadLetter,
}
OUTPUT_TYPE_NAMES: dict[type[_Payload], str] = {model: name for name, model in OUTPUT_TYPES.items()}
INPUT_TYPE_NAMES: dict[type[_Payload], str] = {model: name for name, model in INPUT_TYPES.items()}


def parse_input(envelope: Envelope) -> InputEvent:
    """The typed payload of an input envelope, or DecodeError (unknown type, invalid payload)."""
    model = INPUT_TYPES.get(envelope.type)
    if model is None:
        raise DecodeError("unknown_type", f"unknown event type {envelope.type!r}")
    try:
        return model.model_validate(envelope.data)  # type: ignore[return-value]
    except ValidationError as exc:
        raise DecodeError("invalid_payload", f"invalid {envelope.type} payload: {validation_summary(exc)}") from None
