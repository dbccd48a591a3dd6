"""Latency: from an arrival sent to Kafka to the routing decision read back, at fixed event rates.

    contact-router bench latency --max-rate R [--fractions 0.25,0.5,0.8] [--rates 1000] [--seconds 60] [--scrape-seconds 5] [--closed-loop]

The load is the demo scenario's input stream (offline simulator) played in real time by as many
domains as make up each rate, each starting at its own phase inside the warm-up. Event times are
the wall clock, so workers' timers and offer expiries run as in production (the simulator's own
timer events are left out: the worker fires its own). Measured per arrival
sent inside the window after the warm-up: the time from the send call to the first decision about
that contact (assigned or queued) read from the decisions topic, on one machine clock.

The same load is also sent through a plain aiokafka relay (consume -> produce, no routing), read
back from its output (two hops, as for a decision) and straight from the input topic (one hop,
raw produce -> consume): the floor for each path. And through the no-op Faust agent of
`bench throughput` (read back from its output, two hops), set up as the worker is: the floor of
the framework the worker is built on, with its CPU. `--max-rate` is the worker's drain rate from
`bench throughput`, which the fractions refer to.

The worker's /metrics is scraped every `--scrape-seconds` meanwhile, as deploy/prometheus does: a
deployed worker pays for exporting its live gauges, so the measured one does too.

The worker's CPU time (all its threads, from /proc) over the same window gives the cores it used
and its CPU per event sent: near saturation latency swings widely between runs, the cost per event
much less, so code changes are compared on both. The scrapes also give the input events it
processed, its own timer events among them, and this process's CPU is the load's.

With --closed-loop the load is the online simulator instead (its agents answer the offers the
worker makes; no baseline rows): see `_closed_loop_points`.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from subprocess import Popen
from typing import NamedTuple, Self

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from benchmarks import kafka
from benchmarks.load import BenchEvent, events_per_second, many_domains, phased_rate, recorded_inputs
from contact_router.processes import wait_until_routing
from contact_router.settings import Settings
from contact_router.sim.platform import PlatformSimulator
from contact_router.sim.scenario import Scenario, load_scenario

DECIDED = {"contact.assigned", "contact.queued"}
PROCESSED = "contact_router_events_total"  # the worker's input events, by type and result
TIMER_FIRED = "timer.fired"
CLOSED_LOOP = "worker (closed loop)"
RELAY, RAW, FAUST = "relay (2 hops)", "raw (1 hop)", "no-op Faust (2 hops)"
# Long enough for the start-up burst (every domain's agents log in at once) to drain at 100+ domains:
# with 20 s, a worker still held 2,400 records of it at 30 s and its latency looked like overload.
WARM_UP_SECONDS = 60.0


@dataclass
class Percentiles:
    count: int
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> Percentiles:
        if not seconds:
            return cls(0, float("nan"), float("nan"), float("nan"), float("nan"))
        ms = sorted(s * 1000.0 for s in seconds)

        def at(q: float) -> float:
            return ms[min(len(ms) - 1, int(q * len(ms)))]

        return cls(len(ms), at(0.50), at(0.99), at(0.999), ms[-1])


@dataclass
class RatePoint:
    target_rate: float
    sent_rate: float  # events per second actually sent inside the window
    domains: int
    path: str  # "worker", RELAY, RAW, FAUST, CLOSED_LOOP
    latency: Percentiles
    unanswered: int | None  # arrivals in the window with no decision read back (not counted in closed loop)
    scrape_ms: float | None = None  # median time to scrape the worker's /metrics during the run
    scrapes_failed: int = 0
    cpu_cores: float | None = None  # the worker's (or no-op agent's) CPU time in the window over the window's length
    processed_rate: float | None = None  # input events the worker processed per second in the window, its timers' included
    timer_rate: float | None = None  # of those, its own timer events
    load_cores: float | None = None  # the CPU the load (this process: player or simulator, and readers) used meanwhile

    @property
    def cpu_us_per_event(self) -> float | None:
        return None if self.cpu_cores is None or not self.sent_rate else self.cpu_cores / self.sent_rate * 1e6


class _InBackground:
    """Runs `_run` in a daemon thread while in the `with` block (when `_wanted`); `_stop` ends it."""

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _wanted(self) -> bool:
        return True

    def _run(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        if self._wanted():
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


class Scraper(_InBackground):
    """Scrapes a /metrics page every `seconds` in a thread while in the `with` block, timing each scrape."""

    def __init__(self, port: int, seconds: float) -> None:
        super().__init__("bench-scraper")
        self._url = f"http://127.0.0.1:{port}/metrics"
        self._seconds = seconds
        self.durations: list[float] = []
        self.failed = 0
        self.counts: list[tuple[float, float, float]] = []  # (wall time, input events processed, timer events of them)

    def _wanted(self) -> bool:
        return self._seconds > 0

    def _run(self) -> None:
        while not self._stop.wait(self._seconds):
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(self._url, timeout=10) as response:
                    page = response.read()
            except OSError:  # an HTTP 500 included
                self.failed += 1
                continue
            self.durations.append(time.perf_counter() - started)
            self.counts.append((time.time(), *processed_events(page.decode())))

    def median_ms(self) -> float | None:
        return statistics.median(self.durations) * 1000.0 if self.durations else None

    def event_rates(self, start: float, end: float) -> tuple[float, float] | None:
        """Input events the worker processed per second between two wall times, and of them its own
        timers' (the load's rate leaves those out)."""
        rates = rates_between(self.counts, start, end)
        return None if rates is None else (rates[0], rates[1])


def processed_events(page: str) -> tuple[float, float]:
    """From a worker's /metrics page: the input events it processed, and of them the timer events."""
    total = timers = 0.0
    for line in page.splitlines():
        if line.startswith(PROCESSED + "{"):
            value = float(line.rsplit(" ", 1)[1])
            total += value
            timers += value if f'type="{TIMER_FIRED}"' in line else 0.0
    return total, timers


def rates_between(samples: list[tuple[float, ...]], start: float, end: float) -> tuple[float, ...] | None:
    """Each counter's growth per wall second between the first and last samples (wall time,
    counters...) inside [start, end]; None without two of them."""
    inside = [s for s in samples if start <= s[0] <= end]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return None
    first, last = inside[0], inside[-1]
    return tuple((b - a) / (last[0] - first[0]) for a, b in zip(first[1:], last[1:], strict=True))


class CpuMeter(_InBackground):
    """Samples CPU time (user + system) from /proc twice a second in a thread while in the `with`
    block: a process's (every thread), or with no pid the whole machine's (every core, all but
    idle and I/O wait). `cores(start, end)` is what was used between two wall times."""

    def __init__(self, pid: int | None, interval: float = 0.5) -> None:
        super().__init__("bench-cpu")
        self._stat = Path(f"/proc/{pid}/stat") if pid is not None else Path("/proc/stat")
        self._machine = pid is None
        self._interval = interval
        self._ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.samples: list[tuple[float, float]] = []  # (wall time, CPU seconds)

    def _wanted(self) -> bool:
        return self._stat.exists()

    def _cpu_seconds(self) -> float:
        text = self._stat.read_text()
        if self._machine:  # "cpu  user nice system idle iowait irq softirq steal ..."
            ticks = [int(v) for v in text.split("\n", 1)[0].split()[1:9]]
            return (sum(ticks) - ticks[3] - ticks[4]) / self._ticks
        fields = text.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self._ticks

    def _run(self) -> None:
        while True:
            try:
                self.samples.append((time.time(), self._cpu_seconds()))
            except OSError:
                return
            if self._stop.wait(self._interval):
                return

    def cores(self, start: float, end: float) -> float | None:
        """CPU seconds per wall second between the samples nearest inside [start, end]."""
        rates = rates_between(self.samples, start, end)
        return None if rates is None else rates[0]


def arrival_key(domain: str, envelope: dict) -> str | None:
    if envelope["type"] == "contact.arrived":
        return f"{domain}/{envelope['data']['contact_id']}"
    return None


async def play(bootstrap: str, topics: kafka.BenchTopics, stream: list[BenchEvent], base: float) -> tuple[dict[str, float], list[float]]:
    """Send each event at base + at; returns send times of arrivals and of every event."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    arrivals: dict[str, float] = {}
    sent_at: list[float] = []
    try:
        for e in stream:
            delay = base + e.at - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now = time.time()
            topic = topics.agent if e.agent_topic else topics.contact
            await producer.send(topic, e.encode(base), key=e.domain.encode())
            sent_at.append(now)
            key = arrival_key(e.domain, e.envelope)
            if key is not None:
                arrivals[key] = now
        await producer.flush()
    finally:
        await producer.stop()
    return arrivals, sent_at


async def read_back(bootstrap: str, topic: str, first_seen: dict[str, float], decisions: bool, stop: asyncio.Event) -> None:
    """Record when each contact's first decision (or, raw, its arrival) is read from `topic`."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=50)
            now = time.time()
            for records in batches.values():
                for record in records:
                    envelope = orjson.loads(record.value)
                    if decisions:
                        if envelope["type"] not in DECIDED:
                            continue
                        key = f"{envelope['domain']}/{envelope['data']['contact_id']}"
                    else:
                        key = arrival_key(envelope["domain"], envelope)
                        if key is None:
                            continue
                    first_seen.setdefault(key, now)
    finally:
        await consumer.stop()


def measure(
    sent: dict[str, float], seen: dict[str, float], window: tuple[float, float]
) -> tuple[list[float], int]:
    latencies, missing = [], 0
    for key, t in sent.items():
        if window[0] <= t < window[1]:
            if key in seen:
                latencies.append(seen[key] - t)
            else:
                missing += 1
    return latencies, missing


async def one_load(bootstrap: str, topics: kafka.BenchTopics, stream: list[BenchEvent], reads: dict[str, tuple[str, bool]], seconds: float) -> tuple[dict[str, tuple[list[float], int]], float, tuple[float, float]]:
    """Play the stream once while reading back each of `reads` (path -> topic, is-decisions);
    returns what was measured per path, the rate sent and the measured window."""
    stop = asyncio.Event()
    seen: dict[str, dict[str, float]] = {path: {} for path in reads}
    readers = [asyncio.create_task(read_back(bootstrap, topic, seen[path], dec, stop)) for path, (topic, dec) in reads.items()]
    await asyncio.sleep(2.0)  # the readers have joined their partitions
    base = time.time() + 1.0
    sent, sent_at = await play(bootstrap, topics, stream, base)
    await asyncio.sleep(3.0)  # stragglers
    stop.set()
    await asyncio.gather(*readers)
    window = (base + WARM_UP_SECONDS, base + WARM_UP_SECONDS + seconds)
    rate = sum(1 for t in sent_at if window[0] <= t < window[1]) / seconds
    return {path: measure(sent, seen[path], window) for path in reads}, rate, window


def run(
    bootstrap: str,
    redis_url: str,
    *,
    scenario: Path,
    rates: list[float],
    seconds: float,
    partitions: int,
    port: int,
    scrape_seconds: float = 5.0,
    closed_loop: bool = False,
) -> list[RatePoint]:
    if closed_loop:
        return _closed_loop_points(bootstrap, redis_url, scenario, rates, seconds, partitions, port, scrape_seconds)
    horizon = WARM_UP_SECONDS * 2 + seconds
    inputs = recorded_inputs(scenario, horizon / 60.0, timers=False)
    # Each domain starts at a random phase in the warm-up, so the window plays the first minute of
    # some domains' recordings: the rate from the recording's steady part alone sent 12-15% too little.
    per_domain = phased_rate(inputs, WARM_UP_SECONDS, WARM_UP_SECONDS, seconds)
    points: list[RatePoint] = []
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        directory = Path(tmp)
        routing = kafka.write_routing(load_scenario(scenario).routing, directory)
        for rate in rates:
            domains = max(1, round(rate / per_domain))
            stream = [e for e in many_domains(inputs, domains, phase_seconds=WARM_UP_SECONDS) if e.at < horizon]
            points += _worker_point(
                bootstrap, redis_url, routing, directory, stream, rate, domains, seconds, partitions, port, scrape_seconds
            )
            points += _baseline_points("relay", bootstrap, directory, stream, rate, domains, seconds, partitions, port)
            points += _baseline_points("faust", bootstrap, directory, stream, rate, domains, seconds, partitions, port)
    return points


@contextmanager
def one_worker(bootstrap: str, redis_url: str, routing: Path, directory: Path, partitions: int, port: int) -> Iterator[tuple[kafka.BenchTopics, Popen[bytes]]]:
    """A worker routing on fresh topics and its own Redis keys, ready to route; all gone afterwards."""
    topics = kafka.BenchTopics.fresh()
    group = f"bench-latency-{uuid.uuid4().hex[:8]}"
    asyncio.run(kafka.create_topics(bootstrap, topics.all, partitions))
    processes = kafka.start_workers(1, port, kafka.worker_env(bootstrap, redis_url, topics, group, routing), directory)
    try:
        wait_until_routing([port], processes)
        yield topics, processes[0]
    finally:
        kafka.stop(processes)
        kafka.forget_redis_prefix(redis_url, group)
        asyncio.run(kafka.delete_topics(bootstrap, topics.all))


def _worker_point(bootstrap: str, redis_url: str, routing: Path, directory: Path, stream: list[BenchEvent], rate: float, domains: int, seconds: float, partitions: int, port: int, scrape_seconds: float) -> list[RatePoint]:
    with one_worker(bootstrap, redis_url, routing, directory, partitions, port) as (topics, process):
        with Scraper(port, scrape_seconds) as scraper, CpuMeter(process.pid) as cpu, CpuMeter(os.getpid()) as load:
            results, sent_rate, window = asyncio.run(
                one_load(bootstrap, topics, stream, {"worker": (topics.name("routing-decisions"), True)}, seconds)
            )
    latencies, missing = results["worker"]
    return [measured_worker(rate, sent_rate, domains, "worker", latencies, missing, scraper, cpu, load, window)]


def measured_worker(rate: float, sent_rate: float, domains: int, path: str, latencies: list[float], unanswered: int | None, scraper: Scraper, cpu: CpuMeter, load: CpuMeter, window: tuple[float, float]) -> RatePoint:
    """A worker's point: its latencies, and what the scraper and the CPU meters (the worker's, and
    this process's: the load's, which shares the machine) saw in the window."""
    processed = scraper.event_rates(*window)
    return RatePoint(
        rate, sent_rate, domains, path, Percentiles.of(latencies), unanswered, scraper.median_ms(), scraper.failed,
        cpu.cores(*window), None if processed is None else processed[0], None if processed is None else processed[1],
        load.cores(*window),
    )


def _baseline_points(kind: str, bootstrap: str, directory: Path, stream: list[BenchEvent], rate: float, domains: int, seconds: float, partitions: int, port: int) -> list[RatePoint]:
    """The load through a baseline process (`relay` or `faust`) on fresh topics, read back from its
    output; with the relay, straight from the input topic too. The warm-up covers a Faust agent's
    slower start (its records wait for it then, outside the window)."""
    topics = kafka.BenchTopics.fresh()
    asyncio.run(kafka.create_topics(bootstrap, topics.all, partitions))
    process = kafka.start_baseline(kind, bootstrap, topics, f"bench-{kind}-{topics.suffix}", port, directory / f"{kind}.log")
    try:
        while kafka.scrape_sum(port, kafka.BASELINE_COUNTER) is None:
            time.sleep(0.2)
        time.sleep(3.0)  # its consumer has joined and been assigned
        reads = {RELAY: (topics.name("relayed"), False), RAW: (topics.contact, False)} if kind == "relay" else {FAUST: (topics.name("relayed"), False)}
        with CpuMeter(process.pid) as cpu:
            results, sent_rate, window = asyncio.run(one_load(bootstrap, topics, stream, reads, seconds))
    finally:
        kafka.stop([process])
        asyncio.run(kafka.delete_topics(bootstrap, topics.all))
    return [
        RatePoint(rate, sent_rate, domains, path, Percentiles.of(lat), miss, cpu_cores=cpu.cores(*window) if path == FAUST else None)
        for path, (lat, miss) in results.items()
    ]


class Mark(NamedTuple):
    """The closed-loop simulator's counters at one moment."""

    simulated: float  # seconds since it started
    wall: float  # time.time()
    sent: int  # events it has sent
    measured: int  # decisions read back about its events


def _closed_loop_points(bootstrap: str, redis_url: str, scenario: Path, rates: list[float], seconds: float, partitions: int, port: int, scrape_seconds: float) -> list[RatePoint]:
    """The load as the online simulator plays it (`contact-router simulate`): its agents answer the
    offers this worker makes, so contacts are accepted and end as they would, where the recorded
    stream's answers are to the offline run's offers (a live worker rejects most, and its contacts
    pile up). Real time (speed 1), so every timer runs as in production; as many copies of the
    scenario's domain as make up each rate, all starting together. Latency is from each event the
    simulator sends to the first decision it caused (any event, not only arrivals)."""
    points: list[RatePoint] = []
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        directory = Path(tmp)
        routing = kafka.write_routing(load_scenario(scenario).routing, directory)
        for rate in rates:
            many = closed_loop_scenario(scenario, rate, WARM_UP_SECONDS * 2 + seconds)
            with one_worker(bootstrap, redis_url, routing, directory, partitions, port) as (topics, process):
                with Scraper(port, scrape_seconds) as scraper, CpuMeter(process.pid) as cpu, CpuMeter(os.getpid()) as load:
                    marks, latencies = _closed_loop(bootstrap, topics, many, seconds)
            start, end = window_marks(marks, seconds)
            sent_rate = (end.sent - start.sent) / (end.wall - start.wall)
            window = (start.wall, end.wall)
            in_window = latencies[start.measured : end.measured]
            points.append(measured_worker(rate, sent_rate, len(many.domains), CLOSED_LOOP, in_window, None, scraper, cpu, load, window))
    return points


def closed_loop_scenario(scenario: Path, rate: float, horizon: float) -> Scenario:
    """The scenario with as many copies of its domain as make up `rate` events/s, by one domain's
    rate in its offline record between the warm-up and `horizon` seconds."""
    per_domain = events_per_second(recorded_inputs(scenario, horizon / 60.0, timers=False), WARM_UP_SECONDS, horizon)
    domains = max(1, round(rate / per_domain))
    return load_scenario(scenario).model_copy(update={"domains": [f"bench-{i:04d}" for i in range(domains)]})


def closed_loop_simulator(
    bootstrap: str, topics: kafka.BenchTopics, scenario: Scenario, duration: float,
    on_tick: Callable[[PlatformSimulator], None] | None = None,
) -> PlatformSimulator:  # fmt: skip
    """The online simulator playing `scenario` on the bench's topics for `duration` wall seconds."""
    settings = Settings(
        kafka_bootstrap=bootstrap,
        topic_contact_events=topics.contact,
        topic_agent_events=topics.agent,
        topic_routing_decisions=topics.name("routing-decisions"),
        topic_escalation_alerts=topics.name("escalation-alerts"),
        topic_dead_letters=topics.name("dead-letters"),
    )
    return PlatformSimulator(scenario, settings, duration=duration, on_summary=None, on_tick=on_tick, drain_seconds=0.0)


def window_marks(marks: list[Mark], seconds: float) -> tuple[Mark, Mark]:
    """The marks that open and close the measured window: the first after the warm-up, the first
    `seconds` later (or the last one, if the run stopped short)."""
    start = next((m for m in marks if m.simulated >= WARM_UP_SECONDS), None)
    if start is None:
        raise RuntimeError(f"the simulator stopped within its {WARM_UP_SECONDS:.0f} s warm-up")
    end = next((m for m in marks if m.simulated >= start.simulated + seconds), marks[-1])
    if end.wall <= start.wall:
        raise RuntimeError("the simulator stopped at the start of the measured window")
    return start, end


def _closed_loop(bootstrap: str, topics: kafka.BenchTopics, scenario: Scenario, seconds: float) -> tuple[list[Mark], list[float]]:
    """Play the scenario for the warm-up and the window; the simulator's counters every half second
    and every latency it measured, in the order read."""
    marks: list[Mark] = []

    def mark(sim: PlatformSimulator) -> None:
        marks.append(Mark(sim.now(), time.time(), sim.events_sent, len(sim.stats.all_latencies)))

    sim = closed_loop_simulator(bootstrap, topics, scenario, WARM_UP_SECONDS + seconds + 1.0, on_tick=mark)
    asyncio.run(sim.run())
    return marks, sim.stats.all_latencies


def render(points: list[RatePoint]) -> str:
    lines = [
        "| target ev/s | sent ev/s | domains | path | measured | p50 ms | p99 ms | p99.9 ms | max ms | unanswered "
        "| scrape ms (failed) | process CPU: cores, us/event | worker ev/s (its timers) | load's cores |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in points:
        q = p.latency
        scrape = "" if p.scrape_ms is None else f"{p.scrape_ms:.0f} ({p.scrapes_failed})"
        unanswered = "" if p.unanswered is None else str(p.unanswered)
        cpu = "" if p.cpu_cores is None or p.cpu_us_per_event is None else f"{p.cpu_cores:.2f}, {p.cpu_us_per_event:,.0f}"
        processed = "" if p.processed_rate is None else f"{p.processed_rate:,.0f} ({p.timer_rate or 0.0:,.0f})"
        load = "" if p.load_cores is None else f"{p.load_cores:.2f}"
        lines.append(
            f"| {p.target_rate:,.0f} | {p.sent_rate:,.0f} | {p.domains} | {p.path} | {q.count} | {q.p50_ms:.1f} | "
            f"{q.p99_ms:.1f} | {q.p999_ms:.1f} | {q.max_ms:.1f} | {unanswered} | {scrape} | {cpu} | {processed} | {load} |"
        )
    return "\n".join(lines)


def as_dicts(points: list[RatePoint]) -> list[dict]:
    return [{**asdict(p), "cpu_us_per_event": p.cpu_us_per_event} for p in points]
