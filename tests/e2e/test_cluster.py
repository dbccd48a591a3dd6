"""Past one machine (#7): two workers on 12-partition topics with 24 routing domains, state in a
three-node Redis Cluster, driven by the platform simulator; the promises checked afterwards from the
topics and the cluster (contact_router.checker). Also measures what the sizing guide (docs/scaling.md)
needs: Redis commands per input event, and memory per event id and per domain.

Ports: the cluster on 39100-39105 (tests/redis_cluster.py), worker metrics on 19790-19791.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from contact_router.checker import check_run, read_run, replay
from contact_router.processes import metric_value, start_worker, stop_workers, wait_until_routing
from contact_router.settings import Settings
from contact_router.sim.platform import PlatformSimulator
from contact_router.sim.scenario import load_scenario
from contact_router.state.redis_store import RedisStore
from tests.conftest import Services
from tests.e2e.pipeline import Pipeline
from tests.redis_cluster import Cluster

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PARTITIONS = 12
DOMAINS = 24
PORTS = [19790, 19791]
SIMULATE_SECONDS = 45.0

# A small center per domain, sped up (handle times of seconds) so a short run has many contacts;
# waits and handling are capped by the sweeper so every contact closes soon after the simulator stops.
SCENARIO = """
name: cluster
domains: [{domains}]
malformed_share: 0.05  # ~20 in a run: dead-lettered for sure, not by luck
ring_seconds: 1
answer_share: 0.95
routing:
  default:
    offer_timeout_seconds: 4
    wrap_up_seconds: 1
    max_wait_seconds: 25
    max_handle_seconds: 40
  queues:
    chat: {{scoring: least_occupied, wrap_up_seconds: 0}}
queues:
  - {{name: voice, channel: voice, skills: {{general: 1}}, arrivals_per_hour: 900, mean_handle_seconds: 8,
     mean_patience_seconds: 20}}
  - {{name: chat, channel: chat, skills: {{chat: 1}}, arrivals_per_hour: 600, mean_handle_seconds: 12,
     mean_patience_seconds: 30}}
agents:
  - {{name: voice-team, count: 4, skills: {{general: [1, 5]}}, capacity: {{voice: 1}}}}
  - {{name: chat-team, count: 2, skills: {{chat: [1, 5]}}, capacity: {{chat: 2}}}}
"""


async def create_topics(pipe: Pipeline) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=pipe.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, PARTITIONS, 1) for name in pipe.topics.values()])
    finally:
        await admin.close()


async def command_stats(cluster: Cluster) -> tuple[Counter[str], Counter[str]]:
    """Calls per command and the server's microseconds spent on them, summed over the cluster's
    nodes (INFO commandstats)."""
    calls: Counter[str] = Counter()
    usec: Counter[str] = Counter()
    for port in cluster.ports:
        node = aioredis.Redis(host="127.0.0.1", port=port)
        stats = await node.info("commandstats")
        await node.aclose()
        for name, values in stats.items():
            calls[name.removeprefix("cmdstat_")] += int(values["calls"])
            usec[name.removeprefix("cmdstat_")] += int(values["usec"])
    return calls, usec


async def memory_by_kind(client: aioredis.RedisCluster, prefix: str) -> dict[str, Any]:
    """MEMORY USAGE of every key of the namespace, by kind: event ids, customer histories, and each
    domain's state (version and hashes together)."""
    sizes: dict[str, list[int]] = {"event": [], "customer": [], "other": []}
    per_domain: Counter[str] = Counter()
    async for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        text = key.decode()
        used = int(await client.memory_usage(key, samples=0) or 0)
        if ":event:" in text:
            sizes["event"].append(used)
        elif ":customer:" in text:
            sizes["customer"].append(used)
        elif "{" in text:
            per_domain[text.split("{")[1].split("}")[0]] += used
        else:
            sizes["other"].append(used)

    def mean(values: list[int] | Any) -> float:
        values = list(values)
        return round(sum(values) / len(values), 1) if values else 0.0

    return {
        "event_keys": len(sizes["event"]), "bytes_per_event_key": mean(sizes["event"]),
        "customer_keys": len(sizes["customer"]), "bytes_per_customer_key": mean(sizes["customer"]),
        "domains": len(per_domain), "bytes_per_domain_state": mean(per_domain.values()),
    }  # fmt: skip


async def test_two_workers_on_a_redis_cluster_keep_the_promises(
    services: Services, redis_cluster: Cluster, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    pipe = Pipeline(services.kafka_bootstrap, suffix)
    await create_topics(pipe)
    domain_names = [f"site-{i:02d}" for i in range(DOMAINS)]
    scenario_file = tmp_path / "scenario.yaml"
    scenario_file.write_text(SCENARIO.format(domains=", ".join(domain_names)))
    env = pipe.worker_env(redis_cluster.url) | {
        "CONTACT_ROUTER_REDIS_CLUSTER": "true",
        "CONTACT_ROUTER_ROUTING_CONFIG": str(scenario_file),
    }
    settings = Settings(
        kafka_bootstrap=services.kafka_bootstrap,
        redis_url=redis_cluster.url,  # type: ignore[arg-type]
        redis_cluster=True,
        redis_key_prefix=env["CONTACT_ROUTER_REDIS_KEY_PREFIX"],
        topic_contact_events=pipe.topics["contact-events"],
        topic_agent_events=pipe.topics["agent-events"],
        topic_routing_decisions=pipe.topics["routing-decisions"],
        topic_escalation_alerts=pipe.topics["escalation-alerts"],
        topic_dead_letters=pipe.topics["dead-letters"],
    )
    store = RedisStore.from_url(redis_cluster.url, cluster=True, key_prefix=settings.redis_key_prefix)
    client: aioredis.RedisCluster = aioredis.RedisCluster.from_url(redis_cluster.url)
    calls_before, usec_before = await command_stats(redis_cluster)
    procs = [
        start_worker(i, metrics_port=port, log_path=tmp_path / f"worker-{i}.log", env=env)
        for i, port in enumerate(PORTS)
    ]
    try:
        wait_until_routing(PORTS, procs, timeout=120)
        owned = [metric_value(port, "contact_router_assigned_partitions") for port in PORTS]
        sim = PlatformSimulator(
            load_scenario(scenario_file), settings, seed=11, duration=SIMULATE_SECONDS, summary_every=15.0,
            on_summary=print, run_id=suffix[:4],
        )  # fmt: skip
        started = time.monotonic()
        stats = await sim.run()
        print(f"simulated {time.monotonic() - started:.0f} s: " + sim.summary_line(0).split("]", 1)[1])
        assert stats.arrived > 300 and stats.completed > 150, stats  # ~450 expected: 24 x 1500/h x 45 s

        # After the simulator stops, the sweeper closes what it left open (waits and handling capped).
        # Polled on the topics alone: the store's loads would count in the Redis figures below.
        inputs, outputs = await read_run(settings)
        deadline = time.monotonic() + 120
        while replay(inputs, outputs).without_outcome and time.monotonic() < deadline:
            await asyncio.sleep(5)
            inputs, outputs = await read_run(settings)
        calls, usec = await command_stats(redis_cluster)
        calls, usec = calls - calls_before, usec - usec_before
        report = await check_run(settings, store)
        print(report.render())
        assert report.arrived >= stats.arrived and report.domains == DOMAINS
        assert report.without_outcome == 0 and report.lost == 0  # promise 1
        assert report.over_capacity == 0 and report.over_capacity_in_store == 0  # promise 2
        assert report.conflicting == 0 and report.overlapping == 0 and report.closed_twice == 0  # promise 4
        assert report.promises_kept
        assert report.closed["completed"] > 150 and report.dead_letters > 0  # malformed input, dead-lettered

        # The work was shared: both workers owned partitions, and the domains' slots are on all three nodes.
        assert all(v is not None and v > 0 for v in owned), owned
        await client.initialize()  # the slot map
        nodes = Counter(client.get_node_from_key(store.keys(d).version).port for d in sim.domains)
        assert set(nodes) == set(redis_cluster.ports), nodes
        held = Counter()
        for port in redis_cluster.ports:
            node = aioredis.Redis(host="127.0.0.1", port=port)
            held[port] = sum([1 async for _ in node.scan_iter(match=f"{settings.redis_key_prefix}:*:version")])
            await node.aclose()
        assert sum(held.values()) == DOMAINS and all(held[p] > 0 for p in redis_cluster.ports), held

        # The figures docs/scaling.md builds on.
        # INFO commandstats counts the commands a script runs too: the client's own are EVALSHA (the
        # commit), ZADD/ZREM (the deadline index, same round trip), MULTI/EXEC (a load), EXISTS (marker).
        events = len(inputs)
        figures = {
            "input_events": events,
            "partitions_per_worker": owned,
            "commits_per_event": round(calls["evalsha"] / events, 3),
            "index_writes_per_event": round((calls["zadd"] + calls["zrem"]) / events, 3),
            "loads_per_event": round(calls["exec"] / events, 3),
            "customer_reads_per_event": round(calls["mget"] / events, 3),
            # Server time of one commit (the script and every command it runs), on these loaded cores.
            "usec_per_commit": round(usec["evalsha"] / max(calls["evalsha"], 1), 1),
            "usec_per_index_write": round(usec["zadd"] / max(calls["zadd"], 1), 1),
            "commands": dict(calls.most_common()),
            "domains_per_node": {str(port): n for port, n in nodes.items()},
            **await memory_by_kind(client, settings.redis_key_prefix),
        }
        print("cluster figures: " + orjson.dumps(figures).decode())
        assert figures["event_keys"] > 0 and figures["bytes_per_event_key"] > 0
    finally:
        stop_workers(procs)
        await store.wipe()
        await store.delete_marker()
        await store.close()
        await client.aclose()
        for log in sorted(tmp_path.glob("worker-*.log")):
            text = log.read_text(errors="replace")
            if "Traceback" in text:
                print(f"--- {log}\n{text[-4000:]}")

