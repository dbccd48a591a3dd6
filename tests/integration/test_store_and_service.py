"""The store contract and the routing service, on both stores: in memory and a real Redis server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from contact_router.routing.model import Agent, Contact, ContactStatus, DomainState
from contact_router.service import DomainLimits, Result, RoutingService, SourceRecord
from contact_router.state import CommitStatus, InMemoryStore, InvariantViolation, OutputRecord
from contact_router.state.redis_store import RedisStore
from contact_router.state.store import Changes, Outbox
from tests.conftest import Services
from tests.factories import PSEUDONYMS, agent_in, contact, envelope


@pytest.fixture(
    params=[
        "memory",
        pytest.param("redis", marks=pytest.mark.integration),
        pytest.param("cluster", marks=pytest.mark.integration),
    ]
)
async def store(request: pytest.FixtureRequest, unique: str) -> AsyncIterator[InMemoryStore | RedisStore]:
    if request.param == "memory":
        yield InMemoryStore()
        return
    if request.param == "cluster":  # a three-node Redis Cluster: every domain's keys in its own slot
        url = request.getfixturevalue("redis_cluster").url
        redis_store = RedisStore.from_url(url, cluster=True, key_prefix=f"test-{unique}")
        yield redis_store
        await redis_store.close()
        return
    services: Services = request.getfixturevalue("services")
    redis_store = RedisStore.from_url(services.redis_url, key_prefix=f"test-{unique}")
    yield redis_store
    await redis_store.close()


def record(env, *, offset: int = 0, key: str | None = None) -> SourceRecord:  # noqa: ANN001
    return SourceRecord("contact-events", 0, offset, (key or env.domain).encode(), env.to_bytes(), env.timestamp)


def agent(agent_id: str, **kw) -> Agent:  # noqa: ANN003
    return Agent(agent_id=agent_id, skills={"s": 3}, capacity={"voice": 1}, **kw)


async def test_commit_then_load_round_trips_records_exactly(store) -> None:  # noqa: ANN001
    state = DomainState()
    state.touch_agent(agent("a1", languages=[], idle_since=1763888400.123456))
    state.touch_contact(Contact("c1", "voice", "q", {"s": 2}, arrived_at=1763888401.654321, customer_ref="x"))
    result = await store.commit("d", 0, [Outbox("e1", [OutputRecord("t", "d", b'{"a": 1}')])], Changes.of(state))
    assert result.status is CommitStatus.APPLIED and result.version == 1
    loaded = await store.load("d")
    assert loaded.version == 1
    assert loaded.state.agents == {"a1": state.agents["a1"]}
    assert loaded.state.contacts == {"c1": state.contacts["c1"]}


async def test_detector_records_round_trip_and_customer_histories_load_by_ref(store) -> None:  # noqa: ANN001
    from contact_router.alerts.state import ActiveAlert, CustomerHistory, PeriodCounts, QueueStats

    state = DomainState()
    stats = QueueStats(period_start=1800.0, current=PeriodCounts(3, 2, 1, 1), aht=181.25, skills={"s": 2})
    alert = ActiveAlert("sla_at_risk:queue:q:1", "sla_at_risk", "warning", "queue", "q", "q", 1.5, 2.5, 600.0)
    state.touch_queue("q", stats)
    state.touch_alert(alert)
    state.touch_customer("ref-1", CustomerHistory([(1.0, "q", "voice")], last_csat=2))
    await store.commit("d", 0, [Outbox("e1", [])], Changes.of(state))
    loaded = (await store.load("d")).state
    assert loaded.queues == {"q": stats} and loaded.alerts == {alert.key: alert}
    assert loaded.customers == {}  # loaded per event, by reference
    assert await store.load_customers("d", ["ref-1", "ref-2"]) == {"ref-1": state.customers["ref-1"]}
    gone = DomainState()
    gone.remove_alert(alert.key)
    await store.commit("d", 1, [Outbox("e2", [])], Changes.of(gone))
    assert (await store.load("d")).state.alerts == {}


async def test_alerts_go_to_their_topic_and_survive_a_worker_restart(store) -> None:  # noqa: ANN001
    from contact_router.core import Engine
    from contact_router.routing.config import RoutingConfig

    engine = Engine(RoutingConfig.model_validate({"default": {"service_level_seconds": 20}}))
    service = RoutingService(store, pseudonyms=PSEUDONYMS, engine=engine)
    await service.process(record(envelope("agent.logged_in", agent_in("a1", {}), at=0)))
    await service.process(record(envelope("contact.arrived", contact("c0", {}, customer_ref="r"), at=0), offset=1))
    await service.process(record(envelope("contact.ended", {"contact_id": "c0", "csat": 1}, at=5), offset=2))
    again = envelope("contact.arrived", contact("c1", {}, customer_ref="r"), at=10)
    processed = await service.process(record(again, offset=3))
    alerts = [orjson.loads(o.value) for o in processed.outputs if o.topic == "escalation-alerts"]
    assert {(a["data"]["kind"], a["data"]["status"]) for a in alerts} == {
        ("repeat_contact", "firing"),
        ("previous_csat_low", "firing"),
    }
    assert all(a["type"] == "escalation.alert" and a["id"].endswith(":firing") for a in alerts)
    # A fresh worker (empty cache) resolves the same alerts when the contact ends: they were stored.
    ended = await RoutingService(store, pseudonyms=PSEUDONYMS, engine=engine).process(
        record(envelope("contact.ended", {"contact_id": "c1"}, at=20), offset=4)
    )
    resolved = [orjson.loads(o.value)["data"] for o in ended.outputs if o.topic == "escalation-alerts"]
    assert {(a["kind"], a["status"]) for a in resolved} == {("repeat_contact", "resolved"), ("previous_csat_low", "resolved")}
    assert {a["alert_id"] for a in resolved} == {a["data"]["alert_id"] for a in alerts}


async def test_replayed_event_returns_its_first_outputs_and_changes_nothing(store) -> None:  # noqa: ANN001
    state = DomainState()
    state.touch_agent(agent("a1"))
    outputs = [OutputRecord("routing-decisions", "d", b'{"id": "x"}')]
    await store.commit("d", 0, [Outbox("e1", outputs)], Changes.of(state))
    again = await store.commit("d", 1, [Outbox("e1", [])], Changes({"a2": agent("a2")}, {}))
    assert again.status is CommitStatus.DUPLICATE and again.outputs == outputs
    assert set((await store.load("d")).state.agents) == {"a1"}


async def test_stale_version_is_a_conflict(store) -> None:  # noqa: ANN001
    await store.commit("d", 0, [Outbox("e1", [])], Changes({"a1": agent("a1")}, {}))
    result = await store.commit("d", 0, [Outbox("e2", [])], Changes({"a2": agent("a2")}, {}))
    assert result.status is CommitStatus.CONFLICT and result.version == 1


async def test_commits_of_many_domains_at_once_each_get_their_own_outcome(store) -> None:  # noqa: ANN001
    """A worker commits a batch's domains side by side; the Redis store sends them in one pipeline.
    Each must still get exactly its own answer: applied, duplicate, conflict or refused."""
    outputs = [OutputRecord("routing-decisions", "dup", b'{"id": "first"}')]
    await store.commit("dup", 0, [Outbox("e1", outputs)], Changes({"a1": agent("a1")}, {}))
    await store.commit("stale", 0, [Outbox("e1", [])], Changes({"a1": agent("a1")}, {}))
    over = agent("a1")
    over.active.update({"c1": "voice", "c2": "voice"})

    async def refused() -> str:
        try:
            await store.commit("bad", 0, [Outbox("e1", [])], Changes({"a1": over}, {}))
        except InvariantViolation:
            return "refused"
        return "written"

    fresh = [store.commit(f"new-{i}", 0, [Outbox("e1", [])], Changes({f"a{i}": agent(f"a{i}")}, {})) for i in range(10)]
    dup, stale, bad, *applied = await asyncio.gather(
        store.commit("dup", 1, [Outbox("e2", []), Outbox("e1", [])], Changes({"a2": agent("a2")}, {})),
        store.commit("stale", 0, [Outbox("e2", [])], Changes({"a2": agent("a2")}, {})),
        refused(),
        *fresh,
    )
    assert (dup.status, dup.duplicate, dup.outputs) == (CommitStatus.DUPLICATE, 1, outputs)
    assert (stale.status, stale.version) == (CommitStatus.CONFLICT, 1)
    assert bad == "refused"
    assert [(r.status, r.version) for r in applied] == [(CommitStatus.APPLIED, 1)] * 10
    for i in range(10):
        assert set((await store.load(f"new-{i}")).state.agents) == {f"a{i}"}
    assert set((await store.load("dup")).state.agents) == {"a1"}
    assert (await store.load("bad")).version == 0


@pytest.mark.integration
async def test_concurrent_commits_share_one_connection(services: Services, unique: str) -> None:
    """Twenty domains committed at once go to Redis in one pipeline, on one connection of the pool
    (redis-py alone would open one connection per command in flight)."""
    import redis.asyncio as aioredis

    name = f"pipeliner-{unique}"
    redis_store = RedisStore(aioredis.Redis.from_url(services.redis_url, client_name=name), key_prefix=f"test-{unique}")
    try:
        await asyncio.gather(
            *(redis_store.commit(f"d{i}", 0, [Outbox("e1", [])], Changes({"a1": agent("a1")}, {})) for i in range(20))
        )
        clients = await redis_store._client.client_list()  # noqa: SLF001 - the connections this store opened
        assert sum(1 for c in clients if c.get("name") == name) == 1
    finally:
        await redis_store.close()


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda a: a.active.update({"c1": "voice", "c2": "voice"}), id="over-capacity"),
        pytest.param(lambda a: (a.active.update({"c1": "voice"}), setattr(a, "state", "away")), id="not-available"),
    ],
)
async def test_store_refuses_an_agent_over_capacity_or_unavailable(store, bad) -> None:  # noqa: ANN001
    a = agent("a1")
    bad(a)
    from contact_router.contract import AgentState

    a.state = AgentState(a.state)
    with pytest.raises(InvariantViolation):
        await store.commit("d", 0, [Outbox("e1", [])], Changes({"a1": a}, {}))
    assert (await store.load("d")).version == 0


async def test_store_refuses_to_move_an_assigned_contact_to_another_agent(store) -> None:  # noqa: ANN001
    c = Contact("c1", "voice", "q", {}, 0.0, status=ContactStatus.ASSIGNED, agent_id="a1")
    await store.commit("d", 0, [Outbox("e1", [])], Changes({}, {"c1": c}))
    moved = Contact("c1", "voice", "q", {}, 0.0, status=ContactStatus.ASSIGNED, agent_id="a2")
    with pytest.raises(InvariantViolation, match="without being released"):
        await store.commit("d", 1, [Outbox("e2", [])], Changes({}, {"c1": moved}))


async def test_store_refuses_an_agent_holding_a_contact_not_assigned_to_it(store) -> None:  # noqa: ANN001
    waiting = Contact("c1", "voice", "q", {}, 0.0)
    holder = agent("a1")
    holder.active["c1"] = "voice"
    with pytest.raises(InvariantViolation, match="not assigned to it"):
        await store.commit("d", 0, [Outbox("e1", [])], Changes({"a1": holder}, {"c1": waiting}))


async def test_store_accepts_a_contact_released_by_one_agent_and_offered_to_another(store) -> None:  # noqa: ANN001
    first = agent("a1")
    first.active["c1"] = "voice"
    offered = Contact("c1", "voice", "q", {}, 0.0, status=ContactStatus.ASSIGNED, agent_id="a1")
    await store.commit("d", 0, [Outbox("e1", [])], Changes({"a1": first, "a2": agent("a2")}, {"c1": offered}))
    released, second = agent("a1"), agent("a2")
    second.active["c1"] = "voice"
    moved = Contact("c1", "voice", "q", {}, 0.0, status=ContactStatus.ASSIGNED, agent_id="a2", skipped_agents=["a1"])
    result = await store.commit("d", 1, [Outbox("e2", [])], Changes({"a1": released, "a2": second}, {"c1": moved}))
    assert result.status is CommitStatus.APPLIED


async def test_service_routes_queues_dead_letters_and_dedupes(store) -> None:  # noqa: ANN001
    service = RoutingService(store, pseudonyms=PSEUDONYMS)
    login = envelope("agent.logged_in", agent_in("a1", {"billing": 3}))
    first = envelope("contact.arrived", contact("c1", {"billing": 2}))
    second = envelope("contact.arrived", contact("c2", {"billing": 2}))
    assert (await service.process(record(login))).result is Result.APPLIED
    routed = await service.process(record(first, offset=1))
    assert [orjson.loads(o.value)["type"] for o in routed.outputs] == ["contact.assigned"]
    queued = await service.process(record(second, offset=2))
    assert orjson.loads(queued.outputs[0].value)["data"]["reason"] == "no_free_agent"

    # a fresh worker, as after a crash
    replay = await RoutingService(store, pseudonyms=PSEUDONYMS).process(record(first, offset=1))
    assert replay.result is Result.DUPLICATE and replay.outputs == routed.outputs

    unknown = envelope("contact.ended", {"contact_id": "nope"})
    rejected = await service.process(record(unknown, offset=3))
    assert rejected.result is Result.REJECTED and rejected.outputs[0].topic == "dead-letters"

    garbage = SourceRecord("contact-events", 0, 4, b"bank", b"{oops", 0.0)
    dead = await service.process(garbage)
    assert dead.result is Result.DEAD_LETTER and dead.reason_kind == "invalid_json"
    letter = orjson.loads(dead.outputs[0].value)
    assert letter["id"] == "dead-letter:contact-events:0:4" and letter["data"]["offset"] == 4


async def test_wrong_key_is_dead_lettered(store) -> None:  # noqa: ANN001
    env = envelope("contact.arrived", contact("c1", {}))
    processed = await RoutingService(store, pseudonyms=PSEUDONYMS).process(record(env, key="another-domain"))
    assert processed.result is Result.DEAD_LETTER and processed.reason_kind == "wrong_key"


async def test_two_services_racing_on_one_domain_never_double_book(store) -> None:  # noqa: ANN001
    """FreeSWITCH #2901 (one contact offered twice). Two workers (as during a rebalance) apply events
    of one domain concurrently: conflicts are retried on fresh state, so one agent with capacity 1
    never holds two contacts."""
    one, two = RoutingService(store, pseudonyms=PSEUDONYMS), RoutingService(store, pseudonyms=PSEUDONYMS)
    await one.process(record(envelope("agent.logged_in", agent_in("a1", {})), offset=0))
    arrivals = [envelope("contact.arrived", contact(f"c{i}", {})) for i in range(20)]
    results = await asyncio.gather(
        *[(one if i % 2 else two).process(record(env, offset=i + 1)) for i, env in enumerate(arrivals)]
    )
    assigned = [r for res in results for r in res.outputs if orjson.loads(r.value)["type"] == "contact.assigned"]
    assert len(assigned) == 1
    state = (await store.load("bank")).state
    assert len(state.agents["a1"].active) == 1
    assert sum(c.status is ContactStatus.WAITING for c in state.contacts.values()) == 19


async def test_a_login_that_lowers_capacity_keeps_contacts_in_progress(store) -> None:  # noqa: ANN001
    """Found by the property tests: the store once refused such a login, and it was dead-lettered."""
    service = RoutingService(store, pseudonyms=PSEUDONYMS)
    await service.process(record(envelope("agent.logged_in", agent_in("a1", {}, capacity={"chat": 2}))))
    await service.process(record(envelope("contact.arrived", contact("c1", {}, channel="chat")), offset=1))
    lowered = await service.process(record(envelope("agent.logged_in", agent_in("a1", {}, capacity={"chat": 0})), offset=2))
    assert lowered.result is Result.APPLIED
    a1 = (await store.load("bank")).state.agents["a1"]
    assert a1.capacity == {"chat": 0} and a1.active == {"c1": "chat"}
    queued = await service.process(record(envelope("contact.arrived", contact("c2", {}, channel="chat")), offset=3))
    assert orjson.loads(queued.outputs[0].value)["type"] == "contact.queued"


async def test_past_a_domains_limits_events_are_dead_lettered_once_and_the_stream_goes_on(store) -> None:  # noqa: ANN001
    limits = DomainLimits(max_agents=1, max_contacts=2)
    service = RoutingService(store, pseudonyms=PSEUDONYMS, limits=limits)
    events = [
        envelope("agent.logged_in", agent_in("a1", {})),
        envelope("agent.logged_in", agent_in("a2", {})),  # past 1 agent
        envelope("contact.arrived", contact("c1", {})),  # to a1
        envelope("contact.arrived", contact("c2", {})),  # waits
        envelope("contact.arrived", contact("c3", {})),  # past 2 open contacts
        envelope("contact.ended", {"contact_id": "c1"}, at=5),  # a1 takes c2
        envelope("contact.arrived", contact("c4", {}), at=6),  # room again
    ]
    results = [await service.process(record(env, offset=i)) for i, env in enumerate(events)]
    assert [r.reason_kind for r in results] == [None, "too_many_agents", None, None, "too_many_contacts", None, None]
    assert [o.topic for o in results[4].outputs] == ["dead-letters"]
    # Redelivered to a fresh worker, even one with room now, the refused event gives the same dead letter.
    again = await RoutingService(store, pseudonyms=PSEUDONYMS).process(record(events[4], offset=4))
    assert again.result is Result.DUPLICATE and again.outputs == results[4].outputs
    state = (await store.load("bank")).state
    assert list(state.agents) == ["a1"] and sorted(state.contacts) == ["c2", "c4"]
