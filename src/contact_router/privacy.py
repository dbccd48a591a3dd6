"""Customer references become pseudonyms where events come in: HMAC-SHA256 under a secret key.

The service replaces `customer_ref` right after parsing, so the routing core, Redis, the outputs, the
logs and the metrics only ever see the pseudonym. The hash is deterministic under one key, so the
same customer still links up across contacts (repeat contacts, channel hops, previous CSAT); without
the key a pseudonym cannot be traced back to, or guessed from, a reference. Changing the key unlinks
every stored history (they expire with the customer TTL).

Dead letters keep the input's bytes, except that the values of `customer_ref` and `callback_ref`
are replaced by their pseudonyms: the topic is for finding out what was wrong with an input, and
stays linkable to the contact's records; a replayed dead letter is hashed again, so that one
contact is not linked to its customer's history (routing never reads customer_ref).
"""

from __future__ import annotations

import hashlib
import hmac
import re

import orjson
from pydantic import SecretStr

from contact_router.contract import ContactArrived, InputEvent

MIN_KEY_CHARS = 32
KEY_SETTING = "CONTACT_ROUTER_CUSTOMER_REF_KEY"

# A personal field's name, then its value as a JSON string or number; found in the raw bytes, so it
# works on inputs that are not valid JSON too.
_PERSONAL_VALUE = re.compile(rb'("(?:customer_ref|callback_ref)"\s*:\s*)("(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+-]*)')


class CustomerRefKeyError(ValueError):
    """No usable key: the worker must not start, rather than store raw references."""


class Pseudonyms:
    def __init__(self, key: str) -> None:
        if len(key) < MIN_KEY_CHARS:
            raise CustomerRefKeyError(
                f"{KEY_SETTING} must be at least {MIN_KEY_CHARS} characters (e.g. the output of `openssl rand -hex 32`)"
            )
        self._key = key.encode()

    @classmethod
    def from_setting(cls, key: SecretStr | None) -> Pseudonyms:
        if key is None:
            raise CustomerRefKeyError(
                f"{KEY_SETTING} is not set: the worker hashes customer references with it before storing "
                f"them and does not run without one (e.g. `export {KEY_SETTING}=$(openssl rand -hex 32)`; "
                "keep it secret and keep it: a new key unlinks customers' histories)"
            )
        return cls(key.get_secret_value())

    def of(self, ref: str) -> str:
        return hmac.new(self._key, ref.encode(), hashlib.sha256).hexdigest()

    def event(self, event: InputEvent) -> InputEvent:
        """The event as the core may see it: its customer reference (if any) replaced by the pseudonym."""
        if isinstance(event, ContactArrived) and event.customer_ref:
            return event.model_copy(update={"customer_ref": self.of(event.customer_ref)})
        return event

    def redact(self, raw: bytes) -> bytes:
        """Raw input bytes with every customer_ref and callback_ref value replaced by its pseudonym."""

        def pseudonym(match: re.Match[bytes]) -> bytes:
            value = match[2]
            try:
                text = orjson.loads(value)
            except orjson.JSONDecodeError:
                text = value.strip(b'"').decode(errors="replace")
            return match[1] + b'"' + self.of(str(text)).encode() + b'"'

        return _PERSONAL_VALUE.sub(pseudonym, raw)
