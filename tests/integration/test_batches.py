"""Batches change the cost, never the result: events processed in batches give the same outputs, the
same results and the same stored state (version included) as the same events processed one at a
time, on both stores.

Hypothesis generates event sequences over two domains (the steps of test_properties, redeliveries of
earlier events and a producer's back-to-back duplicates included) and random batch boundaries.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contact_router.core import Engine
from contact_router.service import Processed, RoutingService, SourceRecord
from contact_router.state import InMemoryStore
from contact_router.state.redis_store import RedisStore
from contact_router.state.store import Snapshot, StateStore
from tests.factories import PSEUDONYMS, envelope
from tests.integration.test_properties import CONFIG, arrive, budget, finish, login, step

DOMAINS = ["d1", "d2"]
StoreFactory = Callable[[], Awaitable[StateStore]]

# More arrivals and ends than test_properties draws: customers come back across batches.
event_st = st.tuples(st.one_of(step, login, arrive, arrive, finish), st.sampled_from(DOMAINS), st.booleans())
sequence_st = st.lists(event_st, min_size=8, max_size=60)
cuts_st = st.lists(st.integers(1, 12), min_size=1, max_size=40)


def records_of(events: list) -> list[SourceRecord]:  # noqa: ANN001 - hypothesis' tuples
    """Kafka records for the generated steps: a redelivery repeats an earlier record, and a step
    flagged `twice` is sent twice in a row (a producer's retry: the same event id). Arrivals name one
    of three customers and ends carry a CSAT, so customer histories are loaded and written."""
    records: list[SourceRecord] = []
    fresh: list[SourceRecord] = []
    for n, ((topic, type_, data), domain, twice) in enumerate(events):
        if topic == "restart":
            continue
        if topic == "redeliver":
            if fresh:
                records.append(fresh[len(fresh) // 2])
            continue
        if type_ == "contact.arrived":  # customers come back: repeat-contact histories are read and written
            data = {**data, "customer_ref": f"customer-{n % 3}"}
        elif type_ == "contact.ended":
            data = {**data, "csat": n % 5 + 1}
        env = envelope(type_, data, domain=domain, at=float(n + 1), id_=f"e{n}")
        record = SourceRecord(topic, 0, len(records), domain.encode(), env.to_bytes(), env.timestamp)
        fresh.append(record)
        records += [record, record] if twice else [record]
    return records


def batches_of(records: list[SourceRecord], cuts: list[int]) -> list[list[SourceRecord]]:
    batches, start = [], 0
    for n in range(len(records)):
        size = cuts[n % len(cuts)]
        if start >= len(records):
            break
        batches.append(records[start : start + size])
        start += size
    return batches


def summary(processed: Processed) -> tuple:
    return (processed.result, processed.reason_kind, [(o.topic, o.key, o.value) for o in processed.outputs])


def stored(snapshot: Snapshot) -> tuple:
    """What the store holds of a domain, its version (a count of state-changing events) included."""
    state = snapshot.state
    return (snapshot.version, state.agents, state.contacts, state.queues, state.alerts)


async def run(factory: StoreFactory, records: list[SourceRecord], batches: list[list[SourceRecord]]) -> None:
    one_store, batch_store = await factory(), await factory()
    try:
        one = RoutingService(one_store, pseudonyms=PSEUDONYMS, engine=Engine(CONFIG))
        batched = RoutingService(batch_store, pseudonyms=PSEUDONYMS, engine=Engine(CONFIG), max_batch=5)
        expected = [summary(await one.process(r)) for r in records]
        got = [summary(p) for batch in batches for p in await batched.process_batch(batch)]
        assert got == expected
        for domain in DOMAINS:
            assert stored(await batch_store.load(domain)) == stored(await one_store.load(domain))
            deadline = Engine(CONFIG).next_deadline((await batch_store.load(domain)).state)
            if deadline is not None:  # the index stays a lower bound of the next deadline
                indexed = (await batch_store.indexed_deadlines()).get(domain)
                assert indexed is not None and indexed <= deadline
    finally:
        await one_store.close()
        await batch_store.close()


@budget(300)
@given(events=sequence_st, cuts=cuts_st)
def test_batches_match_one_at_a_time_on_the_memory_store(events, cuts) -> None:  # noqa: ANN001
    records = records_of(events)

    async def factory() -> InMemoryStore:
        return InMemoryStore()

    asyncio.run(run(factory, records, batches_of(records, cuts)))


@pytest.mark.integration
@budget(60)
@given(events=sequence_st, cuts=cuts_st)
def test_batches_match_one_at_a_time_on_redis(services, events, cuts) -> None:  # noqa: ANN001
    records = records_of(events)

    async def factory() -> RedisStore:
        return RedisStore.from_url(services.redis_url, key_prefix=f"batch-{uuid.uuid4().hex[:10]}", event_ttl_seconds=600)

    asyncio.run(run(factory, records, batches_of(records, cuts)))
