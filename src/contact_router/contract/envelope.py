"""The envelope every event travels in, and decoding of raw Kafka values into it."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

SCHEMA_VERSION = 1
MAX_EVENT_BYTES = 1_000_000

# A routing domain names a Redis hash tag ({domain}), so braces are not allowed in it.
DOMAIN_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"


class DecodeError(ValueError):
    """Raw bytes that are not a valid event; `reason` is safe to log (no payload content)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind  # bounded, for metric labels: too_large, invalid_json, invalid_envelope, ...
        self.reason = reason


class Envelope(BaseModel):
    """The envelope of every event, input or output. Unknown fields are tolerated."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str = Field(min_length=1, max_length=200, description="Unique event id; consumers dedupe on it.")
    type: str = Field(min_length=1, max_length=100, description="Event type, e.g. contact.arrived.")
    time: AwareDatetime = Field(description="Event time, RFC 3339 with an offset.")
    domain: str = Field(pattern=DOMAIN_PATTERN, description="Routing domain (tenant or site); the Kafka key.")
    source: str = Field(default="unknown", max_length=200, description="Who published the event.")
    schema_version: int = Field(default=SCHEMA_VERSION, ge=1, description="Additive schema changes bump it.")
    data: dict[str, Any] = Field(default_factory=dict, description="The event's payload; its model depends on type.")

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @property
    def timestamp(self) -> float:
        """Event time as POSIX seconds: what the routing core measures waits with."""
        return self.time.timestamp()


def decode_envelope(raw: bytes | None, max_bytes: int = MAX_EVENT_BYTES) -> Envelope:
    """Parse raw bytes into an envelope, or raise DecodeError with a reason free of personal data."""
    if raw is None:
        raise DecodeError("empty", "empty value (tombstone)")
    if len(raw) > max_bytes:
        raise DecodeError("too_large", f"event of {len(raw)} bytes is over the {max_bytes} byte limit")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DecodeError("invalid_json", f"invalid JSON: {exc.msg}") from None
    if not isinstance(doc, dict):
        raise DecodeError("invalid_envelope", f"event must be a JSON object, got {type(doc).__name__}")
    try:
        return Envelope.model_validate(doc)
    except ValidationError as exc:
        raise DecodeError("invalid_envelope", f"invalid envelope: {validation_summary(exc)}") from None


def validation_summary(exc: ValidationError) -> str:
    """Field paths and error kinds only: never the offending values, which may be personal data."""
    parts = [f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['type']}" for err in exc.errors()[:5]]
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
