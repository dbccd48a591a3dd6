"""Bad input never stops the stream: every kind is dead-lettered (or applied once) with a stated,
bounded reason, and a valid event after it is still routed. Fuzzed too."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contact_router.service import Result, RoutingService, SourceRecord
from contact_router.state import InMemoryStore
from tests.factories import PSEUDONYMS, agent_in, contact, envelope

NOW = time.time()


def raw(doc: object) -> bytes:
    return orjson.dumps(doc)


def good(type_: str, data: dict, **kw: object) -> dict:
    return orjson.loads(envelope(type_, data, **kw).to_bytes())


CORPUS: list[tuple[str, bytes | None, str]] = [
    ("invalid JSON", b'{"id": "x", ', "invalid_json"),
    ("invalid UTF-8", b'{"id": "\xff\xfe"}', "invalid_json"),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000, "invalid_json"),
    ("a JSON array", b"[1, 2, 3]", "invalid_envelope"),
    ("a tombstone", None, "empty"),
    ("over 1 MB", raw(good("contact.arrived", contact("c", {}) | {"pad": "x" * 1_000_100})), "too_large"),
    ("missing fields", raw({"type": "contact.arrived", "domain": "bank"}), "invalid_envelope"),
    ("wrong types", raw(good("contact.arrived", {"contact_id": 7, "channel": "fax", "queue": []})), "invalid_payload"),
    ("unknown type", raw(good("contact.teleported", {"contact_id": "c"})), "unknown_type"),
    ("far future", raw(good("contact.arrived", contact("c", {}), at=10 * 86_400)), "event_time"),
    ("far past", raw(good("contact.arrived", contact("c", {}), at=-10 * 86_400)), "event_time"),
    ("unknown agent", raw(good("agent.state_changed", {"agent_id": "ghost", "state": "available"})), "rejected"),
    ("ended before arrived", raw(good("contact.ended", {"contact_id": "later"})), "rejected"),
]


def record(value: bytes | None, offset: int, key: bytes | None = b"bank") -> SourceRecord:
    return SourceRecord("contact-events", 0, offset, key, value, NOW)


@pytest.mark.parametrize(("name", "value", "kind"), CORPUS, ids=[c[0] for c in CORPUS])
def test_each_kind_of_bad_input_is_dead_lettered_with_its_reason(name: str, value: bytes | None, kind: str) -> None:
    processed = asyncio.run(RoutingService(InMemoryStore(), pseudonyms=PSEUDONYMS).process(record(value, 0)))
    assert processed.result in (Result.DEAD_LETTER, Result.REJECTED), name
    assert processed.reason_kind == kind
    (letter,) = processed.outputs
    doc = orjson.loads(letter.value)
    assert letter.topic == "dead-letters" and doc["type"] == "dead_letter" and doc["data"]["reason"]


def test_the_stream_goes_on_after_the_whole_corpus_and_duplicates_apply_once() -> None:
    async def scenario() -> None:
        service = RoutingService(InMemoryStore(), pseudonyms=PSEUDONYMS)
        for offset, (_, value, _) in enumerate(CORPUS):
            await service.process(record(value, offset))
        login = raw(good("agent.logged_in", agent_in("ann", {})))
        arrival = raw(good("contact.arrived", contact("c1", {})))
        await service.process(record(login, 100))
        first = await service.process(record(arrival, 101))
        again = await service.process(record(arrival, 102))  # the same event id, delivered twice
        assert first.result is Result.APPLIED and again.result is Result.DUPLICATE
        assert orjson.loads(first.outputs[0].value)["type"] == "contact.assigned" and again.outputs == first.outputs
        accepted_after_abandon = [
            raw(good("contact.arrived", contact("c2", {}))),
            raw(good("contact.abandoned", {"contact_id": "c2"})),
            raw(good("contact.accepted", {"contact_id": "c2", "agent_id": "ann"})),
        ]
        results = [await service.process(record(v, 200 + i)) for i, v in enumerate(accepted_after_abandon)]
        assert [r.result for r in results] == [Result.APPLIED, Result.APPLIED, Result.REJECTED]

    asyncio.run(scenario())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
envelope_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["contact.arrived", "agent.logged_in", "contact.ended", "timer.fired", "x"])},
    optional={
        "id": st.text(max_size=30),
        "time": st.sampled_from(["2026-11-23T10:00:00Z", "not a time", ""]) | st.text(max_size=10),
        "domain": st.sampled_from(["bank", "", "{tag}"]) | st.text(max_size=10),
        "data": st.dictionaries(st.sampled_from(["contact_id", "agent_id", "channel", "queue", "skills"]), json_values),
    },
)


@settings(max_examples=300, deadline=None)
@given(value=st.binary(max_size=300) | envelope_like.map(orjson.dumps), key=st.none() | st.binary(max_size=10))
def test_no_input_makes_the_service_raise_or_go_silent(value: bytes, key: bytes | None) -> None:
    processed = asyncio.run(RoutingService(InMemoryStore(), pseudonyms=PSEUDONYMS).process(record(value, 0, key)))
    if processed.result in (Result.DEAD_LETTER, Result.REJECTED):
        assert [o.topic for o in processed.outputs] == ["dead-letters"] and processed.reason_kind
    else:
        assert processed.result is Result.APPLIED
