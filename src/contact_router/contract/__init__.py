"""The event contract: one envelope for every event, a pydantic model per event type.

This package is the innermost layer: it imports nothing else of contact-router.
"""

from contact_router.contract.envelope import SCHEMA_VERSION, DecodeError, Envelope, decode_envelope
from contact_router.contract.events import (
    INPUT_TYPES,
    OUTPUT_TYPES,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentState,
    AgentStateChanged,
    Channel,
    ContactAbandoned,
    ContactArrived,
    ContactAssigned,
    ContactClosed,
    ContactEnded,
    ContactQueued,
    DeadLetter,
    InputEvent,
    OutputEvent,
    parse_input,
)

__all__ = [
    "INPUT_TYPES",
    "OUTPUT_TYPES",
    "SCHEMA_VERSION",
    "AgentLoggedIn",
    "AgentLoggedOut",
    "AgentState",
    "AgentStateChanged",
    "Channel",
    "ContactAbandoned",
    "ContactArrived",
    "ContactAssigned",
    "ContactClosed",
    "ContactEnded",
    "ContactQueued",
    "DeadLetter",
    "DecodeError",
    "Envelope",
    "InputEvent",
    "OutputEvent",
    "decode_envelope",
    "parse_input",
]
