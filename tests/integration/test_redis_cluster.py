"""The store on a three-node Redis Cluster: each domain's keys in one slot, domains spread over the
nodes, the commit script reloaded on a node that forgot it, an ACL user, and a cluster that cannot be
reached waited for (not refused). The store contract itself runs on the cluster in
test_store_and_service.py, the rebuild in test_rebuild.py."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoPermissionError, RedisClusterException

from contact_router.alerts.state import CustomerHistory
from contact_router.routing.model import Agent, Contact, DomainState
from contact_router.security import check_redis_login, redis_client
from contact_router.settings import Settings
from contact_router.state import CommitStatus
from contact_router.state.redis_store import RedisStore, redis_away
from contact_router.state.store import Changes, Outbox, Reindex
from tests.redis_cluster import Cluster

pytestmark = pytest.mark.integration


def one_domain(n: int) -> Changes:
    state = DomainState()
    state.touch_agent(Agent(agent_id=f"a{n}", skills={"s": 3}, capacity={"voice": 1}))
    state.touch_contact(Contact(f"c{n}", "voice", "q", {"s": 2}, arrived_at=1.0, customer_ref="r"))
    state.touch_customer("r", CustomerHistory([(1.0, "q", "voice")]))
    return Changes.of(state)


async def keys_by_node(cluster: Cluster, prefix: str) -> dict[int, list[str]]:
    """The namespace's keys as each node holds them (SCAN on that node alone)."""
    found: dict[int, list[str]] = {}
    for port in cluster.ports:
        found[port] = [k for k in cluster.cli("--scan", "--pattern", f"{prefix}:*", port=port).split() if k]
    return found


async def test_each_domain_lives_in_one_slot_and_domains_spread_over_the_nodes(redis_cluster: Cluster) -> None:
    prefix = f"cl-{uuid.uuid4().hex[:8]}"
    store = RedisStore.from_url(redis_cluster.url, cluster=True, key_prefix=prefix)
    domains = [f"tenant-{i:02d}" for i in range(24)]
    try:
        for n, d in enumerate(domains):
            result = await store.commit(d, 0, [Outbox(f"e{n}", [])], one_domain(n), Reindex(1000.0 + n))
            assert result.status is CommitStatus.APPLIED
        by_node = await keys_by_node(redis_cluster, prefix)
        node_of: dict[str, set[int]] = {}
        for port, keys in by_node.items():
            for key in keys:
                if "{" in key:
                    node_of.setdefault(key.split("{")[1].split("}")[0], set()).add(port)
        assert set(node_of) == set(domains)
        assert all(len(ports) == 1 for ports in node_of.values()), node_of  # a domain never straddles nodes
        spread = Counter(next(iter(ports)) for ports in node_of.values())
        assert set(spread) == set(redis_cluster.ports), spread  # every node holds some domains
        # Every key of a domain (version, hashes, event id, customer) hashes to the same slot.
        for d in domains[:3]:
            keys = [k for keys in by_node.values() for k in keys if f"{{{d}}}" in k]
            assert len(keys) == 5, keys  # version, agents, contacts, event id, customer
            assert len({redis_cluster.cli("cluster", "keyslot", k).strip() for k in keys}) == 1
        # The deadline index (one key, on one node) has every domain.
        assert await store.indexed_deadlines() == {d: 1000.0 + n for n, d in enumerate(domains)}
        assert (await store.load(domains[5])).state.contacts.keys() == {"c5"}
        assert (await store.load_customers(domains[5], ["r", "nobody"])).keys() == {"r"}
        # A wipe (the rebuild's) finds keys on every node; the marker stays.
        await store.write_marker({"by": "test"})
        assert await store.wipe(domains[:2]) == 2 * 5
        assert await store.wipe() == 22 * 5 + 1  # the rest, and the deadline index
        assert sum(len(k) for k in (await keys_by_node(redis_cluster, prefix)).values()) == 1
        assert await store.marker() == {"by": "test"}
    finally:
        await store.wipe()
        await store.delete_marker()
        await store.close()


async def test_a_node_that_forgot_the_script_is_given_it_again(redis_cluster: Cluster) -> None:
    prefix = f"cl-{uuid.uuid4().hex[:8]}"
    store = RedisStore.from_url(redis_cluster.url, cluster=True, key_prefix=prefix)
    try:
        assert (await store.commit("d", 0, [Outbox("e1", [])], one_domain(1))).status is CommitStatus.APPLIED
        for port in redis_cluster.ports:  # as after a node's restart
            redis_cluster.cli("script", "flush", port=port)
        assert (await store.commit("d", 1, [Outbox("e2", [])], one_domain(2))).status is CommitStatus.APPLIED
        assert (await store.commit("d", 2, [Outbox("e2", [])], one_domain(2))).status is CommitStatus.DUPLICATE
        assert (await store.load("d")).version == 2
    finally:
        await store.wipe()
        await store.close()


async def test_the_cluster_client_logs_in_as_an_acl_user_confined_to_its_prefix(redis_cluster: Cluster) -> None:
    unique = uuid.uuid4().hex[:8]
    prefix, user, password = f"acl-{unique}", f"router-{unique}", f"pw-{unique}"
    for port in redis_cluster.ports:  # ACLs are per node: a cluster's users are set on each
        redis_cluster.cli("acl", "setuser", user, "on", f">{password}", f"~{prefix}:*", "+@all", "-@dangerous", port=port)
    settings = Settings(
        redis_url=redis_cluster.url,  # type: ignore[arg-type]
        redis_cluster=True,
        redis_username=user,
        redis_password=password,  # type: ignore[arg-type]
        redis_key_prefix=prefix,
    )
    store = RedisStore(redis_client(settings), key_prefix=prefix)
    try:
        for port in redis_cluster.ports:  # the user's first commit loads the script itself
            redis_cluster.cli("script", "flush", port=port)
        await check_redis_login(settings)
        assert await store.ping()
        assert (await store.commit("d", 0, [Outbox("e1", [])], one_domain(1), Reindex(5.0))).status is CommitStatus.APPLIED
        assert (await store.load("d")).version == 1
        assert await store.wipe() == 6  # five domain keys and the deadline index
        outside = RedisStore(redis_client(settings), key_prefix=f"other-{unique}")
        with pytest.raises(NoPermissionError):
            await outside.commit("d", 0, [Outbox("e1", [])], one_domain(1))
        await outside.close()
    finally:
        await store.close()
        for port in redis_cluster.ports:
            redis_cluster.cli("acl", "deluser", user, port=port)


async def test_an_unreachable_cluster_is_waited_for_not_refused() -> None:
    settings = Settings(redis_url="redis://127.0.0.1:1/0", redis_cluster=True)  # type: ignore[arg-type]
    await check_redis_login(settings)  # a warning: the store waits for Redis
    store = RedisStore(redis_client(settings))
    assert not await store.ping()
    await store.close()


def test_what_counts_as_redis_being_away() -> None:
    try:
        raise RedisClusterException("Redis Cluster cannot be connected") from RedisConnectionError("refused")
    except RedisClusterException as exc:
        assert redis_away(exc)
    assert not redis_away(RedisClusterException("EVALSHA - all keys must map to the same key slot"))
    assert redis_away(RedisConnectionError("gone"))
    assert not redis_away(ValueError("bug"))
