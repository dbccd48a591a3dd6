"""What the Kafka benchmarks share: topics, pre-filling, starting the processes under test and
reading their progress from their /metrics pages."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import redis
import yaml
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from benchmarks.load import BenchEvent
from contact_router.processes import start_worker, stop_workers
from contact_router.routing.config import RoutingConfig
from contact_router.state.redis_store import RedisStore

REPO = Path(__file__).resolve().parents[1]
WORKER_COUNTER = "contact_router_events_total"
BASELINE_COUNTER = "bench_events_total"


@dataclass(frozen=True)
class BenchTopics:
    """One benchmark run's topics, named apart from everything else on the broker."""

    suffix: str

    @classmethod
    def fresh(cls) -> BenchTopics:
        return cls(uuid.uuid4().hex[:8])

    def name(self, role: str) -> str:
        return f"bench-{role}-{self.suffix}"

    @property
    def contact(self) -> str:
        return self.name("contact-events")

    @property
    def agent(self) -> str:
        return self.name("agent-events")

    @property
    def outputs(self) -> list[str]:
        return [self.name(r) for r in ("routing-decisions", "escalation-alerts", "dead-letters", "relayed")]

    @property
    def all(self) -> list[str]:
        return [self.contact, self.agent, *self.outputs]


async def create_topics(bootstrap: str, names: Iterable[str], partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1) for name in names])
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, names: Iterable[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(list(names))
    finally:
        await admin.close()


async def prefill(bootstrap: str, topics: BenchTopics, events: list[BenchEvent], base: float) -> None:
    """Every event, keyed by its domain, with its event time as the record's time."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=512 * 1024)
    await producer.start()
    try:
        for e in events:
            topic = topics.agent if e.agent_topic else topics.contact
            await producer.send(topic, e.encode(base), key=e.domain.encode(), timestamp_ms=int((base + e.at) * 1000))
        await producer.flush()
    finally:
        await producer.stop()


def worker_env(bootstrap: str, redis_url: str, topics: BenchTopics, group: str, routing: Path) -> dict[str, str]:
    return {
        "CONTACT_ROUTER_KAFKA_BOOTSTRAP": bootstrap,
        "CONTACT_ROUTER_REDIS_URL": redis_url,
        "CONTACT_ROUTER_APP_ID": group,
        "CONTACT_ROUTER_REDIS_KEY_PREFIX": group,
        "CONTACT_ROUTER_TOPIC_CONTACT_EVENTS": topics.contact,
        "CONTACT_ROUTER_TOPIC_AGENT_EVENTS": topics.agent,
        "CONTACT_ROUTER_TOPIC_ROUTING_DECISIONS": topics.name("routing-decisions"),
        "CONTACT_ROUTER_TOPIC_ESCALATION_ALERTS": topics.name("escalation-alerts"),
        "CONTACT_ROUTER_TOPIC_DEAD_LETTERS": topics.name("dead-letters"),
        "CONTACT_ROUTER_ROUTING_CONFIG": str(routing),
        "CONTACT_ROUTER_CUSTOMER_REF_KEY": secrets.token_hex(32),  # one per run, as a deployment has its own
        "CONTACT_ROUTER_LOG_LEVEL": "warning",
    }


def write_routing(config: RoutingConfig, directory: Path) -> Path:
    path = directory / "routing.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json", exclude_none=True)))
    return path


def start_baseline(kind: str, bootstrap: str, topics: BenchTopics, group: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """A `benchmarks.baselines` process (relay or faust) over the run's input topics."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    args = [sys.executable, "-m", "benchmarks.baselines", kind, "--bootstrap", bootstrap, "--group", group,
            "--inputs", f"{topics.contact},{topics.agent}", "--output", topics.name("relayed"), "--metrics-port", str(port)]
    with log.open("ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)


def start_workers(count: int, first_port: int, env: dict[str, str], directory: Path) -> list[subprocess.Popen[bytes]]:
    return [
        start_worker(i, metrics_port=first_port + i, log_path=directory / f"worker-{i}.log", env=env)
        for i in range(count)
    ]


def scrape_sum(port: int, name: str) -> float | None:
    """The sum of every sample of one metric on a /metrics page, or None if the page does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return None
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    stop_workers(processes, timeout=20.0)


async def mark_new_store(redis_url: str, prefix: str) -> None:
    """A backlog pre-filled before any worker started looks like a store that lost its state, and
    workers would wait for a rebuild: say this one is new, as a first start on empty topics would."""
    store = RedisStore.from_url(redis_url, key_prefix=prefix)
    try:
        await store.write_marker({"written_by": "benchmark: a new store for a pre-filled backlog", "at": time.time()})
    finally:
        await store.close()


def forget_redis_prefix(redis_url: str, prefix: str) -> int:
    """Delete one run's keys from the shared Redis (never FLUSHDB: others may use it)."""
    client = redis.Redis.from_url(redis_url)
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=f"{prefix}:*", count=2000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += client.unlink(*batch)
            batch = []
    if batch:
        deleted += client.unlink(*batch)
    return deleted


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")
