"""The whole pipeline: two worker processes over real Kafka (6-partition topics) and Redis."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import defaultdict

import pytest

from tests.e2e.pipeline import Pipeline, of_type
from tests.factories import agent_in, contact, envelope

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Logins travel on agent-events and contacts on contact-events: two topics have no order between
# them, so the tests let the logins be applied before publishing contacts that depend on them.
LOGINS_SETTLE = 2.0


async def test_contacts_routed_queued_unservable_and_malformed(pipeline: Pipeline) -> None:
    """Per domain: one contact routed at once, one that must wait, one nobody can serve, one malformed."""
    domains = [f"site-{i}" for i in range(8)]  # spread over partitions, hence over both workers
    agents, contacts, ended = [], [], []
    for d in domains:
        agents += [
            envelope("agent.logged_in", agent_in("ann", {"billing": 3}, languages=["en"]), domain=d, at=0),
            envelope("agent.logged_in", agent_in("bob", {"tech": 5}, languages=["en"]), domain=d, at=0),
        ]
        contacts += [
            envelope("contact.arrived", contact("now", {"billing": 2}), domain=d, at=1),
            envelope("contact.arrived", contact("wait", {"billing": 1}, priority=1), domain=d, at=2),
            envelope("contact.arrived", contact("nobody", {"mortgages": 1}), domain=d, at=3),
        ]
        ended.append(envelope("contact.ended", {"contact_id": "now", "resolved": True}, domain=d, at=60))
    await pipeline.publish(agents, topic="agent-events")
    await asyncio.sleep(LOGINS_SETTLE)
    await pipeline.publish(contacts + [(d, b'{"broken": ') for d in domains])
    # Count only this test's domains (by Kafka key: undecodable inputs have no domain) and unique ids:
    # the session's topics carry other tests' outputs, and re-emitted ones.
    def ours(out: list[dict], type_: str) -> set[str]:
        return {o["id"] for o in of_type(out, type_) if o["_key"] in domains}

    await pipeline.read_until(
        lambda out: len(ours(out, "contact.queued")) >= 2 * len(domains) and len(ours(out, "dead_letter")) >= len(domains)
    )
    await pipeline.publish(ended)
    out = await pipeline.read_until(lambda out: len(ours(out, "contact.assigned")) >= 2 * len(domains))

    for d in domains:
        assigned = {o["data"]["contact_id"]: o["data"] for o in of_type(out, "contact.assigned", d)}
        queued = {o["data"]["contact_id"]: o["data"] for o in of_type(out, "contact.queued", d)}
        assert assigned["now"]["agent_id"] == "ann" and assigned["now"]["waited_seconds"] == 0
        assert assigned["now"]["matched_skills"] == {"billing": 3}
        assert queued["wait"]["reason"] == "no_free_agent"
        assert assigned["wait"]["agent_id"] == "ann" and assigned["wait"]["waited_seconds"] == 58
        assert queued["nobody"]["reason"] == "no_eligible_agent" and "nobody" not in assigned
        closed = of_type(out, "contact.closed", d)
        assert [(c["data"]["contact_id"], c["data"]["outcome"]) for c in closed] == [("now", "completed")]
    letters = [o for o in of_type(out, "dead_letter") if o["id"] in ours(out, "dead_letter")]
    assert len(letters) == len(domains)
    assert all(letter["data"]["reason"].startswith("invalid JSON") for letter in letters)


async def test_two_workers_never_double_book_and_redelivery_applies_once(pipeline: Pipeline) -> None:
    """Many contacts over many domains, agents freed as contacts end, every event also redelivered:
    replaying the decision log per domain, no agent ever holds more than its capacity, and each
    contact gets exactly one assignment and one terminal outcome."""
    rng = random.Random(11)
    domains = [f"load-{i}" for i in range(12)]
    logins, events = [], []
    for d in domains:
        logins += [
            envelope("agent.logged_in", agent_in(f"a{i}", {"s": 3}, capacity={"voice": 1, "chat": 2}), domain=d)
            for i in range(3)
        ]
        for n in range(15):
            channel = rng.choice(["voice", "chat"])
            events.append(envelope("contact.arrived", contact(f"c{n}", {"s": 1}, channel=channel), domain=d, at=n))
        for n in range(15):
            kind = "contact.ended" if n % 4 else "contact.abandoned"
            events.append(envelope(kind, {"contact_id": f"c{n}"}, domain=d, at=100 + n))
    await pipeline.publish(logins, topic="agent-events")
    await asyncio.sleep(LOGINS_SETTLE)
    await pipeline.publish(events)
    await pipeline.publish(events)  # at-least-once delivery: every event arrives twice
    total = 15 * len(domains)
    out = await pipeline.read_until(
        lambda out: len({o["id"] for o in of_type(out, "contact.closed") if o["domain"] in domains}) >= total,
        timeout=90,
    )

    # Redelivered events re-emit their first outputs under the same ids: a consumer dedupes by id,
    # and one id must never carry two different decisions.
    first_by_id: dict[str, dict] = {}
    by_domain: dict[str, list[dict]] = defaultdict(list)
    for o in out:
        if o["type"] == "dead_letter":
            continue
        if o["id"] in first_by_id:
            assert first_by_id[o["id"]] == o["data"], f"{o['id']}: one id, two different decisions"
            continue
        first_by_id[o["id"]] = o["data"]
        by_domain[o["domain"]].append(o)
    rejected = [o for o in of_type(out, "dead_letter") if o["domain"] in domains]
    assert not rejected, "a redelivered event must not be rejected as unknown"
    capacity = {"voice": 1, "chat": 2}
    for d in domains:
        holding: dict[str, dict[str, str]] = defaultdict(dict)
        assigned_once: dict[str, str] = {}
        closed: dict[str, str] = {}
        for o in by_domain[d]:  # one partition per domain: the log order is the decision order
            data = o["data"]
            if o["type"] == "contact.assigned":
                assert data["contact_id"] not in assigned_once, f"{d}: {data['contact_id']} assigned twice"
                assigned_once[data["contact_id"]] = data["agent_id"]
                holding[data["agent_id"]][data["contact_id"]] = data["channel"]
                load = sum(1 for ch in holding[data["agent_id"]].values() if ch == data["channel"])
                assert load <= capacity[data["channel"]], f"{d}: {data['agent_id']} over capacity"
            elif o["type"] == "contact.closed":
                assert data["contact_id"] not in closed, f"{d}: {data['contact_id']} closed twice"
                closed[data["contact_id"]] = data["outcome"]
                if data["agent_id"]:
                    holding[data["agent_id"]].pop(data["contact_id"], None)
        assert len(closed) == 15, f"{d}: {15 - len(closed)} contacts without a terminal outcome"


async def test_inputs_near_the_size_limit_are_dead_lettered_and_the_stream_goes_on(pipeline: Pipeline) -> None:
    """A dead letter carries its input in base64 (4/3 larger): whole, that of a 990 kB input does not fit in
    a Kafka message, and the worker's routing agent crashed and lost it. It keeps the first 512 KiB, flagged."""
    d = f"big-{uuid.uuid4().hex[:6]}"
    await pipeline.publish([envelope("agent.logged_in", agent_in("ann", {}), domain=d)], topic="agent-events")
    await asyncio.sleep(LOGINS_SETTLE)
    invalid = (d, b'{"broken": "' + b"x" * 990_000)
    too_large = (d, b'{"pad": "' + b"x" * 1_000_100 + b'"}')
    await pipeline.publish([invalid, too_large, envelope("contact.arrived", contact("after", {}), domain=d, at=1)])

    def letters(out: list[dict]) -> list[dict]:
        return [o for o in of_type(out, "dead_letter") if o["_key"] == d]

    out = await pipeline.read_until(lambda o: len(letters(o)) >= 2 and len(of_type(o, "contact.assigned", d)) >= 1)
    assert [(o["data"]["raw_truncated"], o["data"]["reason"].split(":")[0]) for o in letters(out)] == [
        (True, "invalid JSON"), (True, "event of 1000111 bytes is over the 1000000 byte limit")
    ]
