"""Throughput: how fast one worker (and two) drain a backlog of realistic events, next to the limits.

    contact-router bench throughput [--events 150000] [--repeats 3] [--partitions 12] [--domains 96]

The backlog is the start of the demo scenario's input stream (offline simulator) copied to
--domains domains (8 per partition by default, so two workers split it within a few percent),
pre-filled into fresh topics before anything consumes them. Each process under test then starts
with a fresh consumer group (and, for workers, a fresh Redis prefix, so state starts empty):
  relay   a plain aiokafka consume -> produce loop (the limit of Python on Kafka)
  faust   a no-op Faust agent set up as our worker is (the limit of the framework)
  worker  `contact-router worker`, one process, then two in one group
The rate is read from each process's own counter between 10% and 90% of the backlog, so start-up,
the first rebalance and the last commit stay out of it. Runs of one repeat go in turn, so noise on
this shared machine hits all of them alike; medians over repeats are reported.

Event times are set an hour ahead of the wall clock: the workers' own timers would otherwise find
every deadline of the backlog already due and add timer events the baselines never see. The
recorded timer events are in the backlog, so the routing work is the real one.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks import kafka
from benchmarks.load import BenchEvent, many_domains, recorded_inputs
from contact_router.sim.scenario import load_scenario

KINDS = ["relay", "faust", "worker", "2 workers"]
# How often each kind's counter is read. The relay can drain the backlog in 3 s, between two reads
# a second apart (no rate then); scraping a worker every 0.25 s took 10% of its CPU in py-spy (its
# live gauges cover every domain), so workers are read once a second.
POLL_SECONDS = {"relay": 0.1, "faust": 0.1, "worker": 1.0, "2 workers": 1.0}
LOW, HIGH = 0.10, 0.90


@dataclass
class Drain:
    """One run: events per second between the LOW and HIGH marks of the backlog."""

    kind: str
    events_per_second: float
    seconds: float
    per_process: list[float] = field(default_factory=list)  # events each process handled in all


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

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "medians": {k: self.median(k) for k in KINDS}}


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
            samples.append((time.monotonic(), sum(values)))  # type: ignore[arg-type]
            if samples[-1][1] >= total:
                return samples
        time.sleep(interval)
    raise TimeoutError(f"{samples[-1][1] if samples else 0:.0f} of {total} events handled in {timeout:.0f} s")


def drain_rate(kind: str, samples: list[tuple[float, float]], total: int) -> Drain:
    start, end = crossing(samples, LOW * total), crossing(samples, HIGH * total)
    return Drain(kind, (HIGH - LOW) * total / (end - start), end - start)


def one_run(kind: str, ctx: RunContext) -> Drain:
    group = f"bench-{kind.replace(' ', '')}-{time.monotonic_ns() % 10**9}"
    directory = Path(tempfile.mkdtemp(prefix=f"{group}-", dir=ctx.directory))
    if kind in ("relay", "faust"):
        processes = [kafka.start_baseline(kind, ctx.bootstrap, ctx.topics, group, ctx.port, directory / "log")]
        ports, counter = [ctx.port], kafka.BASELINE_COUNTER
    else:
        env = kafka.worker_env(ctx.bootstrap, ctx.redis_url, ctx.topics, group, ctx.routing)
        asyncio.run(kafka.mark_new_store(ctx.redis_url, group))
        processes = kafka.start_workers(2 if kind == "2 workers" else 1, ctx.port, env, directory)
        ports, counter = [ctx.port + i for i in range(len(processes))], kafka.WORKER_COUNTER
    try:
        samples = watch(ports, counter, ctx.total, processes, timeout=ctx.timeout, interval=POLL_SECONDS[kind])
        drain = drain_rate(kind, samples, ctx.total)
        drain.per_process = [kafka.scrape_sum(p, counter) or 0.0 for p in ports]
        return drain
    finally:
        kafka.stop(processes)
        if kind not in ("relay", "faust"):
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
    one, two = result.median("worker"), result.median("2 workers")
    lines = [
        f"{result.events:,} events ({result.domains} domains, {result.partitions} partitions per input topic), "
        f"medians of {result.repeats} runs:",
        "",
        "| process | events/s | vs relay | vs no-op Faust |",
        "|---|---|---|---|",
    ]
    for kind, rate in (("aiokafka relay", relay), ("no-op Faust agent", faust), ("worker", one), ("2 workers", two)):
        lines.append(f"| {kind} | {rate:,.0f} | {rate / relay:.1%} | {rate / faust:.1%} |")
    lines += ["", f"2 workers / 1 worker: {two / one:.2f}x", ""]
    mix = ", ".join(f"{k} {v / result.events:.0%}" for k, v in sorted(result.mix.items(), key=lambda kv: -kv[1]))
    lines.append(f"Event mix: {mix}.")
    split = [r.per_process for r in result.runs if r.kind == "2 workers"]
    if split:
        lines.append("Events per worker in the 2-worker runs: " + "; ".join(" / ".join(f"{v:,.0f}" for v in s) for s in split))
    return "\n".join(lines)
