"""Memory soak: a worker's resident memory over a long run at a steady fraction of its maximum rate.

    contact-router bench soak --rate R [--minutes 30] [--closed-loop] [--json]

The load is the demo scenario's input stream played in real time by as many domains as make up
the rate (as `bench latency` plays it, without the simulator's timer events: the worker fires its
own). With --closed-loop it is the online simulator, as in `bench latency --closed-loop`: its
agents answer the worker's own offers, so contacts end as they would live; the recorded stream's
answers are to the offline run's offers, which a live worker mostly rejects. Every 10 s the worker's RSS is read from /proc and its consumer lag (the sum of its
`contact_router_consumer_lag` gauge) from its metrics page: memory that grows while the lag grows is a
backlog held in fetch buffers, not a leak. Growth is measured from the end of the warm-up (the first
tenth of the run, when caches and the interpreter's arenas fill) to the end, and over the second
half alone; each sample is kept for the plot.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks import kafka
from benchmarks.latency import closed_loop_scenario, closed_loop_simulator, play
from benchmarks.load import events_per_second, many_domains, recorded_inputs
from contact_router.processes import wait_until_routing
from contact_router.sim.scenario import load_scenario

SAMPLE_SECONDS = 10.0
CONSUMER_LAG = "contact_router_consumer_lag"  # the worker's gauge, per owned input partition


@dataclass
class SoakResult:
    rate: float
    domains: int
    closed_loop: bool
    minutes: float
    events_sent: int
    events_handled: float
    samples: list[tuple[float, int, float]]  # (seconds from start, RSS bytes, consumer lag in records; -1: metrics did not answer)

    def rss_at(self, seconds: float) -> int:
        """RSS at the first sample at or after `seconds`."""
        return next(rss for t, rss, _ in self.samples if t >= seconds)

    @property
    def warm_rss(self) -> int:
        return self.rss_at(self.minutes * 60.0 / 10.0)

    @property
    def growth(self) -> float:
        return self.samples[-1][1] / self.warm_rss - 1.0

    @property
    def second_half_growth(self) -> float:
        """Growth from the middle of the run to its end: near zero once memory has settled."""
        return self.samples[-1][1] / self.rss_at(self.minutes * 30.0) - 1.0

    @property
    def max_lag(self) -> float:
        return max(lag for _, _, lag in self.samples)

    def as_dict(self) -> dict[str, object]:
        return {
            **asdict(self), "warm_rss": self.warm_rss, "growth": self.growth,
            "second_half_growth": self.second_half_growth, "max_lag": self.max_lag,
        }


def render(result: SoakResult) -> str:
    mib = 1024 * 1024
    load = "closed loop" if result.closed_loop else "recorded stream"
    return (
        f"{result.minutes:.0f} min at {result.rate:,.0f} events/s ({load}, {result.domains} domains; "
        f"{result.events_sent:,} sent, {result.events_handled:,.0f} handled incl. the worker's timers): "
        f"RSS {result.samples[0][1] / mib:.1f} MiB at start, {result.warm_rss / mib:.1f} MiB after the warm-up, "
        f"{result.samples[-1][1] / mib:.1f} MiB at the end, {max(r for _, r, _ in result.samples) / mib:.1f} MiB at most: "
        f"growth {result.growth:+.1%} after the warm-up, {result.second_half_growth:+.1%} over the second half; "
        f"consumer lag at most {result.max_lag:,.0f} records, {result.samples[-1][2]:,.0f} at the end."
    )


def run(
    bootstrap: str, redis_url: str, *, scenario: Path, rate: float, minutes: float, partitions: int, port: int,
    closed_loop: bool = False,
) -> SoakResult:  # fmt: skip
    if closed_loop:
        simulated = closed_loop_scenario(scenario, rate, minutes * 60.0)
        domains = len(simulated.domains)
    else:
        inputs = recorded_inputs(scenario, minutes, timers=False)
        domains = max(1, round(rate / events_per_second(inputs, 60.0, minutes * 60.0)))
        stream = [e for e in many_domains(inputs, domains, phase_seconds=20.0) if e.at < minutes * 60.0]
    topics = kafka.BenchTopics.fresh()
    group = f"bench-soak-{uuid.uuid4().hex[:8]}"
    samples: list[tuple[float, int, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        directory = Path(tmp)
        routing = kafka.write_routing(load_scenario(scenario).routing, directory)
        asyncio.run(kafka.create_topics(bootstrap, topics.all, partitions))
        processes = kafka.start_workers(1, port, kafka.worker_env(bootstrap, redis_url, topics, group, routing), directory)
        done = threading.Event()
        try:
            wait_until_routing([port], processes)
            started = time.monotonic()

            def take_sample() -> None:
                lag = kafka.scrape_sum(port, CONSUMER_LAG)
                samples.append((time.monotonic() - started, kafka.rss_bytes(processes[0].pid), -1.0 if lag is None else lag))

            def sample() -> None:
                while not done.is_set():
                    take_sample()
                    done.wait(SAMPLE_SECONDS)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            if closed_loop:
                sim = closed_loop_simulator(bootstrap, topics, simulated, minutes * 60.0)
                asyncio.run(sim.run())
                sent = sim.events_sent
            else:
                asyncio.run(play(bootstrap, topics, stream, base=time.time() + 1.0))
                sent = len(stream)
            time.sleep(5.0)
            done.set()
            sampler.join()
            take_sample()
            handled = kafka.scrape_sum(port, kafka.WORKER_COUNTER) or 0.0
        finally:
            done.set()
            kafka.stop(processes)
            kafka.forget_redis_prefix(redis_url, group)
            asyncio.run(kafka.delete_topics(bootstrap, topics.all))
    return SoakResult(rate, domains, closed_loop, minutes, sent, handled, samples)
