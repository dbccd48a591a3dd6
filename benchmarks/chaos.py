"""The chaos run: the online simulator plays a center through real workers while a supervisor breaks
things on a schedule, then the promise checker reads what the run left behind.

It starts its own Kafka broker and redis-server (benchmarks/servers.py; append-only file fsynced
every second) on loopback ports 39110-39112, never the shared ones, since it restarts them. N
workers (metrics ports from 19900) run as processes; a supervisor thread restarts any that exits, as
docker's restart policy or systemd would. Faults are placed by progress (contacts arrived over
contacts planned), spread from 20% to 90%, one at a time: each waits until the previous one's
server or worker is back.

- worker killed: SIGKILL (no shutdown, no offset commit), restarted at once;
- broker restarted: SIGTERM (a controlled shutdown), started again on the same data;
- Redis restarted: SIGTERM (Redis fsyncs the append-only file), started again, reloading it;
- worker joined / left: one more worker starts, later stops cleanly (SIGTERM).
`hard=True` kills the broker and Redis with SIGKILL instead (Redis may then lose its last second).

After the simulator ends, the run waits until the store holds no open contact of the run (or the
routing config's sweeper limits have passed), stops the workers, and checks: every arrived contact
has one terminal outcome, no agent ever over capacity (the decisions replayed), no conflicting
decisions (contact_router.checker). Processing gaps: after each fault, the longest time in which no
decision was published (record timestamps on routing-decisions), over all partitions and on the
worst partition, next to the same measure in the quiet time before the first fault.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import secrets
import shutil
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from benchmarks.servers import PrivateKafka, PrivateRedis, port_open
from contact_router.checker import PromiseReport, check_store, read_topic_to_end, replay
from contact_router.processes import metric_value, start_worker, stop_workers, wait_until_routing
from contact_router.settings import Settings
from contact_router.sim.platform import PlatformSimulator
from contact_router.sim.scenario import Scenario, load_scenario
from contact_router.sim.workload import from_scenario
from contact_router.state.redis_store import RedisStore

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "scenarios" / "chaos.yaml"
# Loopback, but not 127.0.0.1: the servers restart, and clients reconnecting meanwhile could take
# their port (benchmarks/servers.py says how).
HOST = "127.0.0.2"
KAFKA_PORT = 39110
CONTROLLER_PORT = 39111
REDIS_PORT = 39112
METRICS_PORT = 19900  # worker i: METRICS_PORT + i (19900-19919)
DRAIN_SECONDS = 90.0  # wall time the simulator gives contacts in progress to end by themselves
FIRST_FAULT, LAST_FAULT = 0.2, 0.9  # progress at the first and the last fault


@dataclass
class ChaosConfig:
    contacts: int = 100_000
    rate: float = 40.0  # contacts per wall second; 100/s overloaded the shared 2-core machine
    workers: int = 2
    kills: int = 3
    broker_restarts: int = 1
    redis_restarts: int = 1
    join_leave: bool = True
    hard: bool = False
    partitions: int = 6
    domains: int | None = None  # the scenario's first this many domains; None: all
    seed: int = 7
    scenario: Path = SCENARIO


@dataclass
class Fault:
    kind: str  # "kill", "broker", "redis", "join", "leave"
    at_progress: float
    started: float = math.nan  # wall clock (time.time()) when it began
    back: float = math.nan  # when its server or worker was up again (routing, for workers)
    progress: float = math.nan  # progress when it began
    detail: str = ""

    @property
    def done(self) -> bool:
        return not math.isnan(self.started)


def plan_faults(kills: int, broker: int, redis: int, join_leave: bool) -> list[Fault]:
    """The faults in order, spread evenly over 20%-90% of the run. Kinds alternate so that two of a
    kind are apart; a join comes before its leave with another fault between them when there is one."""
    pools = {"kill": kills, "broker": broker, "redis": redis}
    kinds: list[str] = []
    while any(pools.values()):
        for kind in ("kill", "broker", "kill", "redis"):
            if pools[kind] > 0:
                kinds.append(kind)
                pools[kind] -= 1
    if join_leave:
        kinds.insert(len(kinds) // 3, "join")
        kinds.insert(2 * len(kinds) // 3 + 1, "leave")
    if len(kinds) == 1:
        return [Fault(kinds[0], FIRST_FAULT)]
    step = (LAST_FAULT - FIRST_FAULT) / (len(kinds) - 1)
    return [Fault(kind, round(FIRST_FAULT + i * step, 3)) for i, kind in enumerate(kinds)]


# ------------------------------------------------------------------ processing gaps


@dataclass
class Gap:
    kind: str
    at: float  # seconds since the run's first decision
    overall: float  # longest time without any decision, from the fault on
    worst_partition: float  # longest time without a decision on one partition
    partition: int | None


def _longest_gap(times: list[float], start: float, end: float) -> float:
    """The longest stretch within [start, end] with none of the sorted `times` in it."""
    longest, last = 0.0, start
    for t in times:
        if t <= start:
            continue
        if t >= end:
            break
        longest, last = max(longest, t - last), t
    return max(longest, end - last)


def processing_gaps(decisions: list[tuple[float, int]], faults: list[Fault], end: float) -> tuple[list[Gap], Gap]:
    """Per fault, from its start to the next fault's (or `end`): the longest time with no decision at
    all, and on the worst partition. Also the same over the quiet stretch before the first fault (from
    the first decision on), for comparison: a quiet partition has gaps of its own.
    `decisions`: (record timestamp, partition)."""
    by_partition: dict[int, list[float]] = defaultdict(list)
    for t, p in sorted(decisions):
        by_partition[p].append(t)
    every = sorted(t for t, _ in decisions)
    origin = every[0] if every else 0.0
    done = [f for f in faults if f.done]

    def gap(kind: str, start: float, stop: float) -> Gap:
        overall = _longest_gap(every, start, stop)
        worst, which = 0.0, None
        for p, times in sorted(by_partition.items()):
            g = _longest_gap(times, start, stop)
            if g > worst:
                worst, which = g, p
        return Gap(kind, round(start - origin, 1), round(overall, 2), round(worst, 2), which)

    gaps = [gap(f.kind, f.started, done[i + 1].started if i + 1 < len(done) else end) for i, f in enumerate(done)]
    quiet_end = done[0].started if done else end
    return gaps, gap("before any fault", origin, quiet_end)


# ------------------------------------------------------------------ the run


@dataclass
class ChaosResult:
    config: dict[str, Any]
    planned_contacts: int
    speed: float
    wall_seconds: float
    play_seconds: float
    drain_seconds: float
    faults: list[Fault]
    worker_exits: list[str]  # exits the supervisor did not cause: "worker 1 exited with code 75 at 41%"
    promises: PromiseReport
    gaps: list[Gap]
    quiet: Gap
    simulator: dict[str, Any]
    run_dir: str

    @property
    def ok(self) -> bool:
        return self.promises.promises_kept and self.promises.still_open == 0 and all(f.done for f in self.faults)

    def as_dict(self) -> dict[str, Any]:
        return {
            "config": self.config, "planned_contacts": self.planned_contacts, "speed": self.speed,
            "wall_seconds": self.wall_seconds, "play_seconds": self.play_seconds, "drain_seconds": self.drain_seconds,
            "faults": [asdict(f) for f in self.faults], "worker_exits": self.worker_exits,
            "promises": self.promises.as_dict(), "gaps": [asdict(g) for g in self.gaps], "quiet": asdict(self.quiet),
            "simulator": self.simulator, "run_dir": self.run_dir, "ok": self.ok,
        }  # fmt: skip


def render(result: ChaosResult) -> str:
    c = result.config
    p = result.promises
    lines = [
        f"chaos run: {p.arrived} contacts arrived ({result.planned_contacts} planned) in {p.domains} domains through "
        f"{c['workers']} workers at speed {result.speed:.1f}; wall {result.wall_seconds:.0f} s "
        f"(playing {result.play_seconds:.0f} s, draining {result.drain_seconds:.0f} s)",
        "faults: " + ", ".join(
            f"{f.kind} at {f.progress:.0%} (back after {f.back - f.started:.1f} s)" if f.done else f"{f.kind}: NOT DONE"
            for f in result.faults
        ),  # fmt: skip
        "worker exits the supervisor did not cause: " + ("; ".join(result.worker_exits) or "none"),
        f"simulator: {result.simulator['arrived']} arrivals played, {result.simulator['undelivered_events']} events "
        "it could not deliver to the broker",
        "",
        p.render(),
        "",
        f"{'processing gap after':<22}{'at (s)':>8}{'all partitions (s)':>20}{'worst partition (s)':>21}",
    ]
    for g in [*result.gaps, result.quiet]:
        which = f" (p{g.partition})" if g.partition is not None else ""
        lines.append(f"{g.kind:<22}{g.at:>8.0f}{g.overall:>20.1f}{g.worst_partition:>15.1f}{which:>6}")
    lines.append(f"logs and data: {result.run_dir}")
    return "\n".join(lines)


def sized(scenario: Scenario, contacts: int, rate: float) -> tuple[Scenario, float]:
    """The scenario lengthened to bring about `contacts` arrivals, and the speed that brings `rate`
    of them per wall second."""
    per_hour = sum(q.arrivals_per_hour for q in scenario.queues) * len(scenario.domains)
    if scenario.half_hour_profile or scenario.replay or scenario.bursts:
        raise ValueError("the chaos run sizes plain scenarios (no profile, replay or bursts)")
    hours = contacts / per_hour
    return scenario.model_copy(update={"hours": hours}), rate * 3600 / per_hour


def planned_contacts(scenario: Scenario, seed: int) -> int:
    """The first arrivals the simulator will play (as it samples them); repeats come on top."""
    return sum(
        len(from_scenario(scenario, random.Random(f"{seed}/{i}/0")).arrivals) for i in range(len(scenario.domains))
    )


class Supervisor:
    """Worker processes, restarted when they exit (as a supervisor would), and the faults."""

    def __init__(self, env: dict[str, str], run_dir: Path, kafka: PrivateKafka, redis: PrivateRedis, hard: bool) -> None:
        self.env = env
        self.run_dir = run_dir
        self.kafka = kafka
        self.redis = redis
        self.hard = hard
        self.workers: dict[int, Any] = {}  # slot -> Popen
        self.exits: list[str] = []
        self.lock = threading.Lock()
        self.progress: Callable[[], float] = lambda: 0.0

    def start(self, slot: int) -> None:
        self.workers[slot] = start_worker(
            slot, metrics_port=METRICS_PORT + slot, log_path=self.run_dir / f"worker-{slot}.log", env=self.env
        )

    def wait_routing(self, timeout: float = 180.0) -> None:
        """Until every worker owns partitions again; exited ones are restarted meanwhile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.restart_exited()
            owned = [metric_value(METRICS_PORT + s, "contact_router_assigned_partitions") for s in self.workers]
            if all(v is not None and v > 0 for v in owned):
                return
            time.sleep(0.5)
        raise TimeoutError(f"workers did not own partitions again within {timeout:.0f} s")

    def restart_exited(self) -> None:
        with self.lock:
            for slot, proc in list(self.workers.items()):
                if proc.poll() is not None:
                    self.exits.append(f"worker {slot} exited with code {proc.returncode} at {self.progress():.0%}")
                    print(f"chaos: {self.exits[-1]}; restarting it", flush=True)
                    self.start(slot)

    def apply(self, fault: Fault) -> None:
        fault.started, fault.progress = time.time(), self.progress()
        print(f"chaos: {fault.kind} at {fault.progress:.0%}", flush=True)
        if fault.kind == "kill":
            with self.lock:
                slot = min(self.workers)  # the first worker: it has owned partitions since the start
                proc = self.workers[slot]
                proc.kill()
                proc.wait()
                fault.detail = f"worker {slot} (pid {proc.pid})"
                self.start(slot)
            self.wait_routing()
        elif fault.kind == "broker":
            self.kafka.stop(kill=self.hard)
            self.kafka.start()
            fault.back = time.time()
            self.wait_routing()
            return
        elif fault.kind == "redis":
            self.redis.stop(kill=self.hard)
            self.redis.start()
            fault.back = time.time()
            return
        elif fault.kind == "join":
            with self.lock:
                self.start(max(self.workers) + 1)
            self.wait_routing()
        elif fault.kind == "leave":
            with self.lock:
                slot = max(self.workers)
                proc = self.workers.pop(slot)
            stop_workers([proc])
            fault.detail = f"worker {slot}, exit code {proc.returncode}"
            self.wait_routing()
        fault.back = time.time()

    def stop_all(self) -> None:
        with self.lock:
            stop_workers(list(self.workers.values()))
            self.workers.clear()


def _play_with_faults(sim: PlatformSimulator, supervisor: Supervisor, faults: list[Fault], planned: int) -> float:
    """Run the simulator on this thread's loop; the supervisor thread watches progress, applies the
    faults in order and restarts exited workers. Returns when the last contact arrived (wall clock):
    after it, decisions thin out as the contacts in progress end, and gaps mean nothing."""
    finished = threading.Event()
    supervisor.progress = lambda: sim.stats.arrived / planned
    errors: list[BaseException] = []
    last_arrival = [time.time(), 0]  # when the count last moved, the count

    def supervise() -> None:
        try:
            pending = list(faults)
            while not finished.is_set():
                if sim.stats.arrived != last_arrival[1]:
                    last_arrival[:] = [time.time(), sim.stats.arrived]
                supervisor.restart_exited()
                if pending and supervisor.progress() >= pending[0].at_progress:
                    supervisor.apply(pending.pop(0))
                    continue
                time.sleep(0.2)
        except BaseException as exc:  # noqa: BLE001 - reported after the run
            errors.append(exc)

    async def play() -> None:
        task = asyncio.create_task(sim.run())
        while not task.done():
            if errors:  # a server that does not come back: stop playing, say why
                task.cancel()
            await asyncio.wait([task], timeout=0.5)
        if not task.cancelled():
            task.result()

    thread = threading.Thread(target=supervise, name="chaos-supervisor", daemon=True)
    thread.start()
    try:
        asyncio.run(play())
    finally:
        finished.set()
        thread.join()
    if errors:
        raise RuntimeError(f"the supervisor failed: {errors[0]!r}") from errors[0]
    return last_arrival[0]


async def _create_topics(settings: Settings, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        names = [
            settings.topic_contact_events, settings.topic_agent_events, settings.topic_routing_decisions,
            settings.topic_escalation_alerts, settings.topic_dead_letters,
        ]  # fmt: skip
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()


async def _open_contacts(settings: Settings, domains: list[str]) -> int:
    store = RedisStore.from_url(settings.redis_url.get_secret_value(), key_prefix=settings.redis_key_prefix)
    try:
        return sum([len((await store.load(d)).state.contacts) for d in domains])
    finally:
        await store.close()


async def _check(settings: Settings) -> tuple[PromiseReport, list[tuple[float, int]]]:
    inputs = await read_topic_to_end(settings, settings.topic_agent_events)
    inputs += await read_topic_to_end(settings, settings.topic_contact_events)
    decisions = await read_topic_to_end(settings, settings.topic_routing_decisions, meta=True)
    outputs = decisions + await read_topic_to_end(settings, settings.topic_dead_letters)
    store = RedisStore.from_url(settings.redis_url.get_secret_value(), key_prefix=settings.redis_key_prefix)
    try:
        report = await check_store(replay(inputs, outputs), store)
    finally:
        await store.close()
    return report, [(d["_timestamp"], d["_partition"]) for d in decisions if "_timestamp" in d]


def run(config: ChaosConfig, run_dir: Path, *, summary: Callable[[str], None] | None = print) -> ChaosResult:
    """One chaos run, start to checked end. Servers and workers are stopped whatever happens."""
    if config.workers + config.join_leave > config.partitions:
        raise ValueError("more workers than partitions: some would own none, and the run waits for each to own some")
    taken = [p for p in (KAFKA_PORT, CONTROLLER_PORT, REDIS_PORT) if port_open(p, HOST)]
    if taken:
        raise RuntimeError(f"ports {taken} are taken: another chaos run?")
    started = time.monotonic()
    # The simulator's and checker's clients log every failed reconnect while the broker is away.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    run_dir.mkdir(parents=True, exist_ok=True)
    for old in [run_dir / "kafka", run_dir / "redis", *run_dir.glob("worker-*")]:  # an earlier run's
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
    scenario = load_scenario(config.scenario)
    if config.domains is not None:
        scenario = scenario.model_copy(update={"domains": scenario.domains[: config.domains]})
    scenario, speed = sized(scenario, config.contacts, config.rate)
    planned = planned_contacts(scenario, config.seed)
    kafka = PrivateKafka(run_dir / "kafka", KAFKA_PORT, CONTROLLER_PORT, HOST)
    redis = PrivateRedis(run_dir / "redis", REDIS_PORT, host=HOST)
    settings = Settings(
        kafka_bootstrap=kafka.bootstrap, redis_url=redis.url, kafka_security_protocol="PLAINTEXT",
        app_id="chaos", redis_key_prefix="chaos",
    )  # fmt: skip
    env = {
        "CONTACT_ROUTER_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "CONTACT_ROUTER_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
        "CONTACT_ROUTER_REDIS_URL": redis.url,
        "CONTACT_ROUTER_APP_ID": settings.app_id,
        "CONTACT_ROUTER_REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "CONTACT_ROUTER_ROUTING_CONFIG": str(config.scenario.resolve()),
        "CONTACT_ROUTER_CUSTOMER_REF_KEY": secrets.token_hex(32),
        "CONTACT_ROUTER_LOG_LEVEL": "warning",
    }
    faults = plan_faults(config.kills, config.broker_restarts, config.redis_restarts, config.join_leave)
    supervisor = Supervisor(env, run_dir, kafka, redis, config.hard)
    try:
        kafka.start()
        redis.start()
        asyncio.run(_create_topics(settings, config.partitions))
        for slot in range(config.workers):
            supervisor.start(slot)
        wait_until_routing([METRICS_PORT + s for s in supervisor.workers], list(supervisor.workers.values()), 180)
        sim = PlatformSimulator(
            scenario, settings, seed=config.seed, speed=speed, summary_every=10.0, on_summary=summary,
            run_id=f"{config.seed}", drain_seconds=DRAIN_SECONDS,
        )  # fmt: skip
        play_start = time.monotonic()
        last_arrival = _play_with_faults(sim, supervisor, faults, planned)
        play_end = time.monotonic()
        # Drain: contacts still open end by the customers' last events or the sweeper's limits.
        limits = [p for p in (scenario.routing.default.max_wait_seconds, scenario.routing.default.max_handle_seconds) if p]
        deadline = time.monotonic() + (max(limits) if limits else 120.0) * 2 + 60
        while time.monotonic() < deadline:
            supervisor.restart_exited()
            if asyncio.run(_open_contacts(settings, sim.domains)) == 0:
                break
            time.sleep(2.0)
        time.sleep(3.0)  # the last closings' outputs are sent right after their commit
        drain_end = time.monotonic()
        supervisor.stop_all()
        report, decision_times = asyncio.run(_check(settings))
        gaps, quiet = processing_gaps(decision_times, faults, last_arrival)
    finally:
        supervisor.stop_all()
        kafka.stop()
        redis.stop()
    return ChaosResult(
        config={k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        planned_contacts=planned,
        speed=speed,
        wall_seconds=round(time.monotonic() - started, 1),
        play_seconds=round(play_end - play_start, 1),
        drain_seconds=round(drain_end - play_end, 1),
        faults=faults,
        worker_exits=supervisor.exits,
        promises=report,
        gaps=gaps,
        quiet=quiet,
        simulator=sim.report()["total"],
        run_dir=str(run_dir),
    )


def main_json(result: ChaosResult) -> str:
    return json.dumps(result.as_dict(), indent=2, default=str)
