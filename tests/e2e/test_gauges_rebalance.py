"""Gauges of live state are exported once per domain even when partitions move between workers.

A worker exports the live-state gauges (waiting contacts, agents by state, ...) of the domains it has
cached, and drops its cache when its partitions are revoked, so that Prometheus can sum them across
workers. This runs that across a real rebalance: one worker, then a second joining the consumer group,
then the first leaving, with the waiting contacts of every domain summed over both /metrics.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from contact_router.contract import Envelope
from contact_router.processes import metric_value, start_worker, stop_workers, wait_until_routing
from contact_router.stream.timers import partition_of
from tests.conftest import Services
from tests.e2e.pipeline import PARTITIONS, Pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PORT_A, PORT_B = 19650, 19651
DOMAINS_PER_PARTITION = 2
INPUT_PARTITIONS = 2 * PARTITIONS  # contact-events and agent-events, co-partitioned


@dataclass(frozen=True)
class Scrape:
    """What one worker's /metrics says about domains and partitions."""

    waiting: dict[str, float]  # domain -> waiting contacts, summed over queues and channels
    agent_domains: set[str]  # domains with a contact_router_agents series
    owned: set[int]  # contact-events partitions it reports consumer lag for (those it owns)


def scrape(port: int, contact_topic: str) -> Scrape:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    waiting: dict[str, float] = {}
    agent_domains: set[str] = set()
    owned: set[int] = set()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "contact_router_waiting_contacts":
                domain = sample.labels["domain"]
                waiting[domain] = waiting.get(domain, 0.0) + sample.value
            elif sample.name == "contact_router_agents":
                agent_domains.add(sample.labels["domain"])
            elif sample.name == "contact_router_consumer_lag" and sample.labels["topic"] == contact_topic:
                owned.add(int(sample.labels["partition"]))
    return Scrape(waiting, agent_domains, owned)


def live(type_: str, data: dict[str, Any], domain: str) -> Envelope:
    """Stamped with the wall clock, as a live platform would."""
    return Envelope(id=f"gauge-{uuid.uuid4().hex}", type=type_, time=datetime.now(UTC), domain=domain,
                    source="tests", data=data)


def spread_domains(prefix: str) -> list[str]:
    """Domain names covering every partition the same number of times, so both workers get some."""
    by_partition: dict[int, list[str]] = {p: [] for p in range(PARTITIONS)}
    n = 0
    while any(len(names) < DOMAINS_PER_PARTITION for names in by_partition.values()):
        name = f"{prefix}-{n}"
        names = by_partition[partition_of(name, PARTITIONS)]
        if len(names) < DOMAINS_PER_PARTITION:
            names.append(name)
        n += 1
    return [name for names in by_partition.values() for name in names]


def waiting_contact(domain: str, n: int) -> Envelope:
    """A contact nobody can serve (no agent has the skill): it waits until the test ends."""
    return live("contact.arrived", {"contact_id": f"c{n}", "channel": "voice", "queue": "billing",
                                    "skills": {"billing": 5}}, domain)


def poll(ports: list[int], topic: str, done: Callable[[list[Scrape]], bool], timeout: float,
         every_scrape: Callable[[list[Scrape]], None] = lambda _: None) -> list[Scrape]:
    """Scrape every worker until `done` holds; the last scrapes either way."""
    deadline = time.monotonic() + timeout
    while True:
        scrapes = [scrape(p, topic) for p in ports]
        every_scrape(scrapes)
        if done(scrapes) or time.monotonic() > deadline:
            return scrapes
        time.sleep(0.5)


def owners(scrapes: list[Scrape], domain: str) -> list[int]:
    """Indexes of the workers exporting the domain's waiting contacts."""
    return [i for i, s in enumerate(scrapes) if domain in s.waiting]


@pytest.fixture
def group(services: Services, tmp_path: Path) -> Iterator[tuple[Pipeline, dict[str, str], Path, list[Any]]]:
    """Topics, worker settings (one consumer group, one key prefix) and the processes started, stopped after."""
    pipe = Pipeline(services.kafka_bootstrap, uuid.uuid4().hex[:8])
    asyncio.run(pipe.create_topics())
    env = pipe.worker_env(services.redis_url) | {"CONTACT_ROUTER_HEALTH_INTERVAL_SECONDS": "1"}
    procs: list[Any] = []
    try:
        yield pipe, env, tmp_path, procs
    finally:
        stop_workers(procs)
        for log in sorted(tmp_path.glob("*.log")):
            text = log.read_text(errors="replace")
            if "Traceback" in text:
                print(f"--- {log}\n{text[-4000:]}")


async def test_waiting_contacts_are_exported_once_per_domain_across_a_rebalance(group) -> None:  # noqa: ANN001
    pipe, env, logs, procs = group
    topic = pipe.topics["contact-events"]
    domains = spread_domains(f"gauge-{pipe.suffix}")
    sent = {d: 1 + i % 3 for i, d in enumerate(domains)}  # distinct counts: a domain summed twice shows
    started = time.monotonic()

    a = start_worker(0, metrics_port=PORT_A, log_path=logs / "a.log", env=env)
    procs.append(a)
    wait_until_routing([PORT_A], [a], timeout=120)
    await pipe.publish([live("agent.logged_in", {"agent_id": "ann", "skills": {"general": 3}}, d) for d in domains],
                       topic="agent-events")
    await pipe.publish([waiting_contact(d, n) for d in domains for n in range(sent[d])])
    (alone,) = poll([PORT_A], topic, lambda s: s[0].waiting == sent and len(s[0].owned) == PARTITIONS, timeout=60)
    assert alone.waiting == sent, f"worker A alone: {alone.waiting}, sent {sent}"
    assert alone.agent_domains == set(domains) and alone.owned == set(range(PARTITIONS)), alone

    # B joins the group: partitions move, and both workers drop what they had cached.
    b = start_worker(1, metrics_port=PORT_B, log_path=logs / "b.log", env=env)
    procs.append(b)
    deadline = time.monotonic() + 120
    while True:
        assert a.poll() is None and b.poll() is None, "a worker exited"
        owned = [metric_value(p, "contact_router_assigned_partitions") or 0 for p in (PORT_A, PORT_B)]
        if all(owned) and sum(owned) == INPUT_PARTITIONS:
            break
        assert time.monotonic() < deadline, f"no settled rebalance within 120 s: owned {owned}"
        time.sleep(0.5)
    rebalanced = time.monotonic()
    # One more event per domain, so its new owner loads it.
    await pipe.publish([waiting_contact(d, sent[d]) for d in domains])
    sent = {d: n + 1 for d, n in sent.items()}
    twice: dict[str, list[int]] = {}

    def no_domain_twice(scrapes: list[Scrape]) -> None:
        for d in domains:
            if len(owners(scrapes, d)) > 1:
                twice[d] = [int(s.waiting[d]) for s in scrapes]

    def settled(scrapes: list[Scrape]) -> bool:
        return all(
            len(owners(scrapes, d)) == 1 and sum(s.waiting.get(d, 0) for s in scrapes) == sent[d]
            and d in scrapes[owners(scrapes, d)[0]].agent_domains
            and partition_of(d, PARTITIONS) in scrapes[owners(scrapes, d)[0]].owned
            for d in domains
        ) and all(s.owned for s in scrapes)

    split = poll([PORT_A, PORT_B], topic, settled, timeout=60, every_scrape=no_domain_twice)
    report = {d: ([s.waiting.get(d) for s in split], sent[d], partition_of(d, PARTITIONS)) for d in domains}
    owned_by = [sorted(s.owned) for s in split]
    assert not twice, f"domains exported by both workers at once: {twice}"
    assert settled(split), f"per domain ([A, B] waiting, sent, partition): {report}; partitions owned {owned_by}"
    assert split[0].waiting and split[1].waiting, f"one worker exports every domain: {report}"
    assert not split[0].owned & split[1].owned, f"a partition's lag reported by both: {owned_by}"
    for d in domains:  # agents by state follow the same rule
        assert [d in s.agent_domains for s in split].count(True) == 1, d

    # A leaves: B owns everything and exports every domain once their events reach it.
    stop_workers([a])
    deadline = time.monotonic() + 60
    while metric_value(PORT_B, "contact_router_assigned_partitions") != INPUT_PARTITIONS:
        assert b.poll() is None, "worker B exited"
        assert time.monotonic() < deadline, "B did not take over every partition within 60 s"
        time.sleep(0.5)
    await pipe.publish([waiting_contact(d, sent[d]) for d in domains])
    sent = {d: n + 1 for d, n in sent.items()}
    (last,) = poll([PORT_B], topic, lambda s: s[0].waiting == sent and len(s[0].owned) == PARTITIONS, timeout=60)
    assert last.waiting == sent, f"worker B alone: {last.waiting}, sent {sent}"
    assert last.agent_domains == set(domains) and last.owned == set(range(PARTITIONS)), last
    print(f"{len(domains)} domains; rebalance settled {rebalanced - started:.0f} s in; "
          f"whole test {time.monotonic() - started:.0f} s")
