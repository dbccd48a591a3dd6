"""One tenant cannot exhaust a worker: a domain holds at most so many agents and open contacts, and an
input event at most so many bytes. Past a limit the event is dead-lettered with its own reason kind,
counted like every other, and the stream goes on."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import orjson
import pytest

from contact_router.metrics import Metrics
from contact_router.service import DomainLimits, Processed, Result, RoutingService, SourceRecord
from contact_router.settings import Settings
from contact_router.state import InMemoryStore
from tests.factories import PSEUDONYMS, agent_in, contact, envelope


class Domain:
    """A service with small limits, fed one event after another; every result is observed by the metrics."""

    def __init__(self, **kw: Any) -> None:
        self.store = InMemoryStore()
        self.service = RoutingService(self.store, pseudonyms=PSEUDONYMS, **kw)
        self.metrics = Metrics()
        self.offset = 0

    def send(self, type_: str, data: dict[str, Any], at: float = 0.0) -> Processed:
        env = envelope(type_, data, at=at)
        self.offset += 1
        record = SourceRecord("contact-events", 0, self.offset, b"bank", env.to_bytes(), env.timestamp)
        processed = asyncio.run(self.service.process(record))
        self.metrics.observe(processed, 0.001)
        return processed

    def dead_letters(self, reason: str) -> float:
        return self.metrics.registry.get_sample_value("contact_router_dead_letters_total", {"reason": reason}) or 0.0


def test_a_new_agent_past_the_limit_is_dead_lettered_and_known_agents_still_log_in() -> None:
    domain = Domain(limits=DomainLimits(max_agents=2))
    assert [domain.send("agent.logged_in", agent_in(a, {})).result for a in ("a1", "a2")] == [Result.APPLIED] * 2
    refused = domain.send("agent.logged_in", agent_in("a3", {}))
    assert refused.result is Result.REJECTED and refused.reason_kind == "too_many_agents"
    assert "limit of 2 agents" in (refused.reason or "")
    (letter,) = refused.outputs
    assert letter.topic == "dead-letters" and "limit of 2 agents" in orjson.loads(letter.value)["data"]["reason"]
    # Agents already known log in again, change state and log out as before; offline ones still count.
    assert domain.send("agent.logged_in", agent_in("a1", {"billing": 3})).result is Result.APPLIED
    assert domain.send("agent.logged_out", {"agent_id": "a2"}).result is Result.APPLIED
    assert domain.send("agent.logged_in", agent_in("a3", {})).reason_kind == "too_many_agents"
    assert domain.dead_letters("too_many_agents") == 2
    assert sorted(asyncio.run(domain.store.load("bank")).state.agents) == ["a1", "a2"]


def test_a_contact_past_the_open_contacts_limit_is_dead_lettered_until_one_finishes() -> None:
    domain = Domain(limits=DomainLimits(max_contacts=2))
    for c in ("c1", "c2"):
        assert domain.send("contact.arrived", contact(c, {})).result is Result.APPLIED
    assert domain.send("contact.arrived", contact("c3", {})).reason_kind == "too_many_contacts"
    # A contact already open is the router's own rejection, not the limit's.
    assert domain.send("contact.arrived", contact("c2", {})).reason_kind == "rejected"
    assert domain.send("contact.abandoned", {"contact_id": "c1"}, at=5).result is Result.APPLIED
    assert domain.send("contact.arrived", contact("c4", {}), at=6).result is Result.APPLIED
    # The stream went on: an agent logging in takes the longest waiting contact.
    login = domain.send("agent.logged_in", agent_in("ann", {}), at=7)
    docs = [orjson.loads(o.value) for o in login.outputs]
    assert [d["data"]["contact_id"] for d in docs if d["type"] == "contact.assigned"] == ["c2"]
    assert domain.dead_letters("too_many_contacts") == 1 and domain.dead_letters("rejected") == 1


def test_an_event_over_the_size_setting_is_dead_lettered_unread() -> None:
    domain = Domain(max_event_bytes=300)
    small = domain.send("contact.arrived", contact("c1", {}))
    big = domain.send("contact.arrived", contact("c2", {}, note="x" * 300))
    assert small.result is Result.APPLIED and big.reason_kind == "too_large" and "300 byte limit" in (big.reason or "")


@pytest.mark.parametrize("raw", [b'{"broken": "' + b"x" * 990_000, b'{"pad": "' + b"x" * 1_000_100 + b'"}'])
def test_the_dead_letter_of_any_input_fits_in_one_kafka_message(raw: bytes) -> None:
    """Kafka's default limit is 1 MB a message; the dead letter of a 990 kB input, in base64, would be 1.3 MB."""
    record = SourceRecord("contact-events", 0, 0, b"bank", raw, 0.0)
    (letter,) = asyncio.run(RoutingService(InMemoryStore(), pseudonyms=PSEUDONYMS).process(record)).outputs
    data = orjson.loads(letter.value)["data"]
    assert len(letter.value) < 1_000_000 and data["raw_truncated"]
    assert raw.startswith(base64.b64decode(data["raw_base64"]))


def test_the_limits_are_settings_with_sensible_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings()
    assert (defaults.max_agents_per_domain, defaults.max_contacts_per_domain) == (20_000, 100_000)
    assert defaults.max_event_bytes == 1_000_000
    assert (DomainLimits().max_agents, DomainLimits().max_contacts) == (20_000, 100_000)
    monkeypatch.setenv("CONTACT_ROUTER_MAX_AGENTS_PER_DOMAIN", "5")
    monkeypatch.setenv("CONTACT_ROUTER_MAX_CONTACTS_PER_DOMAIN", "7")
    monkeypatch.setenv("CONTACT_ROUTER_MAX_EVENT_BYTES", "2048")
    assert (Settings().max_agents_per_domain, Settings().max_contacts_per_domain, Settings().max_event_bytes) == (5, 7, 2048)
