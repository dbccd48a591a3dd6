"""The event contract: decoding, validation errors without personal data, and schema drift."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from contact_router.contract import ContactArrived, DecodeError, decode_envelope, parse_input
from contact_router.contract.schemas import all_schemas, render
from tests.factories import contact, envelope

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def test_committed_schemas_match_the_models() -> None:
    expected = {name: render(schema) for name, schema in all_schemas().items()}
    committed = {p.name: p.read_text() for p in SCHEMAS.glob("*.json")}
    assert committed == expected, "schemas/ drifted from the models: run `contact-router schemas`"


def test_a_valid_event_round_trips_and_unknown_fields_are_tolerated() -> None:
    env = envelope("contact.arrived", contact("c1", {"billing": 2}, language="en", future_field=[1, 2]))
    decoded = decode_envelope(orjson.dumps(orjson.loads(env.to_bytes()) | {"new_top_level": True}))
    event = parse_input(decoded)
    assert isinstance(event, ContactArrived) and event.skills == {"billing": 2} and event.language == "en"


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (None, "empty"),
        (b"{not json", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        (b"[1, 2]", "invalid_envelope"),
        (b'{"id": "x", "type": "contact.arrived"}', "invalid_envelope"),
        (b"x" * 1_000_001, "too_large"),
    ],
)
def test_undecodable_input_is_a_decode_error_with_a_kind(raw: bytes | None, kind: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_envelope(raw)
    assert info.value.kind == kind


def test_unknown_type_and_invalid_payload_are_decode_errors() -> None:
    with pytest.raises(DecodeError, match="unknown event type") as unknown:
        parse_input(envelope("contact.teleported", {}))
    assert unknown.value.kind == "unknown_type"
    bad = envelope("contact.arrived", contact("c1", {"billing": 9}, customer_ref="SECRET-CUSTOMER-42"))
    with pytest.raises(DecodeError) as invalid:
        parse_input(bad)
    assert invalid.value.kind == "invalid_payload" and "skills.billing" in invalid.value.reason
    assert "SECRET" not in invalid.value.reason


def test_decode_reasons_never_carry_payload_values() -> None:
    raw = orjson.dumps(
        {"id": "e", "type": "contact.arrived", "time": "not-a-time", "domain": "bank",
         "data": {"customer_ref": "SECRET-CUSTOMER-42"}}
    )
    with pytest.raises(DecodeError) as info:
        decode_envelope(raw)
    assert "SECRET" not in info.value.reason and "not-a-time" not in info.value.reason
