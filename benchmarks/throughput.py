"""Throughput: how fast one worker (and two) drain a backlog of realistic events, next to the limits.

    contact-router bench throughput [--events 150000] [--repeats 3] [--partitions 12] [--domains 96]

The backlog is the start of the demo scenario's input stream (offline simulator) copied to
--domains domains (8 per partition by default, so two workers split it within a few percent),
pre-filled into fresh topics before anything consumes them. Each process under test then starts
with a fresh consumer group (and, for workers, a fresh Redis prefix, so state starts empty):
  relay   a plain aiokafka consume -> produce loop (the limit of Python on Kafka)
  faust   a no-op Faust agent set up as our worker is (the limit of the framework), one process,
          then two in one group (the limit of two processes on this machine)
  worker  `contact-router worker`, one process, then two in one group
The rate is read from each process's own counter between 10% and 90% of the backlog, so start-up,
the first rebalance and the last commit stay out of it. Runs of one repeat go in turn, so noise on
this shared machine hits all of them alike; medians over repeats are reported, with the machine's
busy cores (every process on it: Kafka, Redis, the processes under test) over the same window.

Event times are set an hour ahead of the wall clock: the workers' own timers would otherwise find
every deadline of the backlog already due and add timer events the baselines never see. The
recorded timer events are in the backlog, so the routing work is the real one.
"""

from __future__ import annotations

import asyncio
import math
import os
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks import kafka
from benchmarks.latency import CpuMeter
from benchmarks.load import BenchEvent, many_domains, recorded_inputs
from contact_router.sim.scenario import load_scenario

KINDS = ["relay", "faust", "2 faust", "worker", "2 workers"]
BASELINES = {"relay": ("relay", 1), "faust": ("faust", 1), "2 faust": ("faust", 2)}  # kind: (process, count)
# How often each kind's counter is read. The relay can drain the backlog in 3 s, between two reads
# a second apart (no rate then). The others take tens of seconds and are read once a second:
# scraping a worker every 0.25 s took 10% of its CPU in py-spy (its live gauges cover every
# domain), and serving a read every 0.1 s was 7% of the no-op Faust agent's samples.
POLL_SECONDS = {"relay": 0.1, "faust": 1.0, "2 faust": 1.0, "worker": 1.0, "2 workers": 1.0}
LOW, HIGH = 0.10, 0.90


@dataclass
class Drain:
    """One run: events per second between the LOW and HIGH marks of the backlog."""

    kind: str
    events_per_second: float
    seconds: float
    per_process: list[float] = field(default_factory=list)  # events each process handled in all
    machine_cores: float | None = None  # the machine's busy cores over the same window


@dataclass
class ThroughputResult:
    events: int
    domains: int
    partitions: int
    repeats: int
    mix: dict[str, int]
    runs: list[Drain]

    def median(self, kind: str) -> float:
        rates = [r.events_per_second for r in self.runs if r.kind == kind]
        return statistics.median(rates) if rates else float("nan")

    def median_machine_cores(self, kind: str) -> float | None:
        cores = [r.machine_cores for r in self.runs if r.kind == kind and r.machine_cores is not None]
        return statistics.median(cores) if cores else None

    def as_dict(self) -> dict[str, object]:
        return {
            **asdict(self),
            "medians": {k: self.median(k) for k in KINDS},
            "machine_cores": {k: self.median_machine_cores(k) for k in KINDS},
        }


def crossing(samples: list[tuple[float, float]], level: float) -> float:
    """When the counter first reached `level`, interpolated between the two samples around it."""
    for (t0, v0), (t1, v1) in zip(samples, samples[1:], strict=False):
        if v1 >= level:
            return t0 if v1 == v0 else t0 + (t1 - t0) * (level - v0) / (v1 - v0)
    raise ValueError(f"counter never reached {level}")


def watch(
    ports: list[int], counter: str, total: int, processes: list, timeout: float, interval: float = 1.0
) -> list[tuple[float, float]]:
    """Poll the processes' counters every `interval` seconds until they have handled `total` events."""
    samples: list[tuple[float, float]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in processes:
            if proc.poll() is not None:
                raise RuntimeError(f"process under test exited with code {proc.returncode}")
        values = [kafka.scrape_sum(p, counter) for p in ports]
        if all(v is not None for v in values):
            samples.append((time.time(), sum(values)))  # type: ignore[arg-type]
            if samples[-1][1] >= total:
                return samples
        time.sleep(interval)
    raise TimeoutError(f"{samples[-1][1] if samples else 0:.0f} of {total} events handled in {timeout:.0f} s")


def drain_rate(kind: str, samples: list[tuple[float, float]], total: int, machine: CpuMeter | None = None) -> Drain:
    start, end = crossing(samples, LOW * total), crossing(samples, HIGH * total)
    return Drain(kind, (HIGH - LOW) * total / (end - start), end - start, machine_cores=machine.cores(start, end) if machine else None)


def one_run(kind: str, ctx: RunContext) -> Drain:
    group = f"bench-{kind.replace(' ', '')}-{time.monotonic_ns() % 10**9}"
    directory = Path(tempfile.mkdtemp(prefix=f"{group}-", dir=ctx.directory))
    if kind in BASELINES:
        process, count = BASELINES[kind]
        processes = [
            kafka.start_baseline(process, ctx.bootstrap, ctx.topics, group, ctx.port + i, directory / f"log-{i}")
            for i in range(count)
        ]
        ports, counter = [ctx.port + i for i in range(count)], kafka.BASELINE_COUNTER
    else:
        env = kafka.worker_env(ctx.bootstrap, ctx.redis_url, ctx.topics, group, ctx.routing)
        asyncio.run(kafka.mark_new_store(ctx.redis_url, group))
        processes = kafka.start_workers(2 if kind == "2 workers" else 1, ctx.port, env, directory)
        ports, counter = [ctx.port + i for i in range(len(processes))], kafka.WORKER_COUNTER
    try:
        with CpuMeter(None) as machine:
            samples = watch(ports, counter, ctx.total, processes, timeout=ctx.timeout, interval=POLL_SECONDS[kind])
        drain = drain_rate(kind, samples, ctx.total, machine)
        drain.per_process = [kafka.scrape_sum(p, counter) or 0.0 for p in ports]
        return drain
    finally:
        kafka.stop(processes)
        if kind not in BASELINES:
            kafka.forget_redis_prefix(ctx.redis_url, group)


@dataclass
class RunContext:
    bootstrap: str
    redis_url: str
    topics: kafka.BenchTopics
    routing: Path
    directory: Path
    total: int
    port: int
    timeout: float


def backlog(scenario: Path, events: int, domains: int, minutes: float) -> list[BenchEvent]:
    """`events` spread over `domains` copies of the start of one domain's recorded stream. Domains
    are Kafka keys, so a partition holds whole domains: with about one domain per partition, two
    workers split the backlog by how many domains each one's partitions happen to hold (12 domains
    on 12 partitions: 75% on one worker with Faust's odd/even assignment)."""
    inputs = recorded_inputs(scenario, minutes)
    per_domain = math.ceil(events / domains)
    if per_domain > len(inputs):
        raise ValueError(f"{events:,} events over {domains} domains needs more than {minutes:g} minutes of one domain's stream")
    return many_domains(inputs[:per_domain], domains, phase_seconds=60.0)[:events]


def run(
    bootstrap: str,
    redis_url: str,
    *,
    scenario: Path,
    events: int,
    repeats: int,
    partitions: int,
    domains: int,
    port: int,
    minutes: float = 20.0,
    kinds: list[str] | None = None,
) -> ThroughputResult:
    unknown = sorted(set(kinds or []) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown processes {unknown}: choose from {KINDS}")
    stream = backlog(scenario, events, domains, minutes)
    mix: dict[str, int] = {}
    for e in stream:
        mix[e.kind()] = mix.get(e.kind(), 0) + 1
    topics = kafka.BenchTopics.fresh()
    runs: list[Drain] = []
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp:
        directory = Path(tmp)
        routing = kafka.write_routing(load_scenario(scenario).routing, directory)
        asyncio.run(kafka.create_topics(bootstrap, topics.all, partitions))
        try:
            asyncio.run(kafka.prefill(bootstrap, topics, stream, base=time.time() + 3600.0))
            ctx = RunContext(bootstrap, redis_url, topics, routing, directory, len(stream), port, timeout=1800.0)
            for _ in range(repeats):
                for kind in kinds or KINDS:
                    runs.append(one_run(kind, ctx))
        finally:
            asyncio.run(kafka.delete_topics(bootstrap, topics.all))
    return ThroughputResult(len(stream), len({e.domain for e in stream}), partitions, repeats, mix, runs)


def render(result: ThroughputResult) -> str:
    relay, faust = result.median("relay"), result.median("faust")
    lines = [
        f"{result.events:,} events ({result.domains} domains, {result.partitions} partitions per input topic), "
        f"medians of {result.repeats} runs:",
        "",
        f"| process | events/s | vs relay | vs no-op Faust | machine's busy cores (of {os.cpu_count()}) |",
        "|---|---|---|---|---|",
    ]
    for kind, name in zip(KINDS, ("aiokafka relay", "no-op Faust agent", "2 no-op Faust agents", "worker", "2 workers"), strict=True):
        if not any(r.kind == kind for r in result.runs):
            continue
        rate, cores = result.median(kind), result.median_machine_cores(kind)
        busy = "" if cores is None else f"{cores:.2f}"
        lines.append(f"| {name} | {rate:,.0f} | {rate / relay:.1%} | {rate / faust:.1%} | {busy} |")
    lines += [
        "",
        f"2 workers / 1 worker: {result.median('2 workers') / result.median('worker'):.2f}x; "
        f"2 no-op Faust agents / 1: {result.median('2 faust') / faust:.2f}x",
        "",
    ]
    mix = ", ".join(f"{k} {v / result.events:.0%}" for k, v in sorted(result.mix.items(), key=lambda kv: -kv[1]))
    lines.append(f"Event mix: {mix}.")
    for kind in ("2 faust", "2 workers"):
        split = [r.per_process for r in result.runs if r.kind == kind]
        if split:
            lines.append(f"Events per process in the {kind} runs: " + "; ".join(" / ".join(f"{v:,.0f}" for v in s) for s in split))
    return "\n".join(lines)
