"""Customer references are hashed (HMAC-SHA256, secret key) at the service's boundary: the core, the
store and every output see pseudonyms only, and the early warnings still link a customer's contacts."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from contact_router.cli import app
from contact_router.contract import ContactArrived, ContactEnded
from contact_router.privacy import CustomerRefKeyError, Pseudonyms
from contact_router.service import Result, RoutingService, SourceRecord
from contact_router.state import InMemoryStore
from tests.factories import PSEUDONYMS, agent_in, contact, envelope

REF = "cust-4711-jane.doe@example.com"


def record(value: bytes, offset: int) -> SourceRecord:
    return SourceRecord("contact-events", 0, offset, b"bank", value, time.time())


def stored_bytes(store: InMemoryStore) -> bytes:
    """Everything the store holds, keys and values, as one byte string to search."""
    return repr(store._domains).encode()


def test_a_pseudonym_is_the_keyed_hash_same_under_one_key_different_under_another() -> None:
    ref = PSEUDONYMS.of(REF)
    assert re.fullmatch(r"[0-9a-f]{64}", ref) and ref == PSEUDONYMS.of(REF) != PSEUDONYMS.of(REF + "x")
    assert Pseudonyms("another-key-of-at-least-32-characters").of(REF) != ref


def test_only_a_contacts_customer_ref_changes_and_an_empty_one_links_nobody() -> None:
    arrived = ContactArrived.model_validate(contact("c1", {}, customer_ref=REF))
    hashed = PSEUDONYMS.event(arrived)
    assert isinstance(hashed, ContactArrived) and hashed.customer_ref == PSEUDONYMS.of(REF)
    assert hashed.model_dump(exclude={"customer_ref"}) == arrived.model_dump(exclude={"customer_ref"})
    empty = ContactArrived.model_validate(contact("c2", {}, customer_ref=""))
    assert PSEUDONYMS.event(empty).customer_ref == ""
    ended = ContactEnded(contact_id="c1")
    assert PSEUDONYMS.event(ended) is ended


def test_a_missing_or_short_key_is_refused_with_what_to_do() -> None:
    with pytest.raises(CustomerRefKeyError, match="CONTACT_ROUTER_CUSTOMER_REF_KEY is not set"):
        Pseudonyms.from_setting(None)
    with pytest.raises(CustomerRefKeyError, match="at least 32 characters"):
        Pseudonyms("short")


@pytest.mark.parametrize(("key", "message"), [(None, "is not set"), ("short", "at least 32 characters")])
def test_the_worker_does_not_start_without_a_usable_key(key: str | None, message: str) -> None:
    result = CliRunner().invoke(app, ["worker"], env={"CONTACT_ROUTER_CUSTOMER_REF_KEY": key})
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


def test_the_store_and_outputs_see_only_pseudonyms_and_repeat_contacts_still_link() -> None:
    async def run() -> tuple[InMemoryStore, list[bytes], list[str]]:
        store = InMemoryStore()
        service = RoutingService(store, pseudonyms=PSEUDONYMS)
        inputs = [
            envelope("agent.logged_in", agent_in("ann", {}, capacity={"voice": 1, "chat": 1}), at=0),
            envelope("contact.arrived", contact("c1", {}, customer_ref=REF), at=1),
            envelope("contact.ended", {"contact_id": "c1", "csat": 1}, at=60),
            envelope("contact.arrived", contact("c2", {}, channel="chat", customer_ref=REF), at=120),
            envelope("contact.arrived", contact("c2", {}, customer_ref=REF), at=121),  # rejected: already there
        ]
        outputs, kinds = [], []
        for offset, env in enumerate(inputs):
            processed = await service.process(record(env.to_bytes(), offset))
            outputs += [o.value for o in processed.outputs]
            kinds += [a.kind for a in processed.alerts]
        assert processed.result is Result.REJECTED
        return store, outputs, kinds

    store, outputs, kinds = asyncio.run(run())
    # The same customer, recognised by the pseudonym: a repeat in the queue, a channel hop, a low CSAT before.
    assert {"repeat_contact", "channel_hop", "previous_csat_low"} <= set(kinds)
    pseudonym = PSEUDONYMS.of(REF).encode()
    assert REF.encode() not in stored_bytes(store) and pseudonym in stored_bytes(store)
    for value in outputs:
        assert REF.encode() not in value
        doc = orjson.loads(value)
        if doc["type"] == "dead_letter":
            assert REF.encode() not in base64.b64decode(doc["data"]["raw_base64"])


@pytest.mark.parametrize(
    "raw",
    [
        # valid, invalid payload (a number as the reference), broken JSON, a callback reference
        envelope("contact.arrived", contact("c1", {}, channel="fax", customer_ref=REF)).to_bytes(),
        b'{"id": "e1", "type": "contact.arrived", "data": {"customer_ref": 4915112345678, "contact_id": 7}}',
        b'{"id": "e1", "type": "contact.arrived", "data": {"customer_ref" :  "' + REF.encode() + b'", "queue": [',
        envelope("contact.callback_requested", {"contact_id": "c9", "callback_ref": REF}).to_bytes(),
    ],
    ids=["invalid channel", "numeric ref", "broken JSON", "callback_ref"],
)
def test_dead_letters_keep_the_input_but_its_references_hashed(raw: bytes) -> None:
    processed = asyncio.run(RoutingService(InMemoryStore(), pseudonyms=PSEUDONYMS).process(record(raw, 0)))
    assert processed.result in (Result.DEAD_LETTER, Result.REJECTED)
    kept = base64.b64decode(orjson.loads(processed.outputs[0].value)["data"]["raw_base64"])
    ref = b"4915112345678" if b"4915112345678" in raw else REF.encode()
    assert ref not in kept and PSEUDONYMS.of(ref.decode()).encode() in kept
    # Everything else is as received.
    assert re.sub(rb'"[0-9a-f]{64}"', b"", kept) == re.sub(rb'"?' + re.escape(ref) + rb'"?', b"", raw)


def test_the_demo_makes_its_key_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    from contact_router.cli import _demo_key

    path = tmp_path / "run" / "customer-ref.key"
    key = _demo_key(path)
    Pseudonyms(key)
    assert _demo_key(path) == key and path.stat().st_mode & 0o777 == 0o600
