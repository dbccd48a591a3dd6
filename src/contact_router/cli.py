"""The one entry point: `contact-router worker | rebuild | simulate | demo | staffing | webhook-receiver | ...`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from contact_router.settings import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Real-time skills-based contact routing.")

DEFAULT_SCENARIO = Path("scenarios/demo.yaml")


@app.command()
def worker() -> None:
    """Run one routing worker (a Faust worker; settings from CONTACT_ROUTER_* variables)."""
    from contact_router.privacy import CustomerRefKeyError
    from contact_router.security import ConnectionRefused, SecurityConfigError
    from contact_router.stream.worker import build_worker

    try:
        worker_ = build_worker(Settings())
    except (CustomerRefKeyError, ConnectionRefused, SecurityConfigError) as exc:
        typer.echo(f"contact-router worker: {exc}", err=True)
        raise typer.Exit(2) from None
    worker_.execute_from_commandline()


@app.command()
def rebuild(
    domain: Annotated[list[str] | None, typer.Option(help="Rebuild only this domain (repeatable); default all.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Replay into memory and compare with Redis; change nothing.")] = False,
) -> None:
    """Rebuild the Redis state from the input topics (after Redis lost it), with the workers stopped."""
    from contact_router.logging import configure_logging
    from contact_router.privacy import CustomerRefKeyError
    from contact_router.stream.rebuild import RebuildRefused
    from contact_router.stream.rebuild import rebuild as run_rebuild
    from contact_router.stream.worker import build_service, build_store

    settings = Settings()
    configure_logging(settings.log_level)

    async def run() -> str:
        store = build_store(settings)
        try:
            report = await run_rebuild(
                settings, store, lambda target: build_service(settings, target),
                domains=set(domain) if domain else None, dry_run=dry_run,
            )
        finally:
            await store.close()
        return report.render()

    try:
        typer.echo(asyncio.run(run()))
    except (RebuildRefused, CustomerRefKeyError) as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def schemas(out: Annotated[Path, typer.Option(help="Directory to write into.")] = Path("schemas")) -> None:
    """Write the JSON Schemas of the envelope and of every event type."""
    from contact_router.contract.schemas import write_schemas

    for path in write_schemas(out):
        typer.echo(str(path))


def _load(scenario: Path):  # noqa: ANN202 - keeps the import lazy
    from contact_router.sim.scenario import ScenarioError, load_scenario

    try:
        return load_scenario(scenario)
    except ScenarioError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


@app.command()
def simulate(
    scenario: Annotated[Path | None, typer.Argument(help="Scenario YAML (not with --replay).")] = None,
    offline: Annotated[
        bool, typer.Option(help="Discrete-event run on a virtual clock with the same routing core; no Kafka.")
    ] = False,
    replay: Annotated[
        Path | None,
        typer.Option(help="What-if: re-run a recorded stream (JSONL envelopes: inputs and decisions) offline."),
    ] = None,
    routing: Annotated[Path | None, typer.Option(help="Offline/replay: routing config YAML to run under.")] = None,
    policy: Annotated[
        str | None, typer.Option(help="Offline/replay: score every queue with this policy (e.g. best_skilled).")
    ] = None,
    record: Annotated[Path | None, typer.Option(help="Offline: write every input and decision as JSONL.")] = None,
    domain: Annotated[str | None, typer.Option(help="Replay: the domain to re-run, if the recording has several.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the final report as JSON.")] = False,
    duration: Annotated[
        float | None,
        typer.Option(help="Online: wall seconds to run, replaying the scenario's period; default: the scenario once."),
    ] = None,
    speed: Annotated[
        float, typer.Option(min=0.001, help="Online: compress the people's time (10: ten times faster than real).")
    ] = 1.0,
    seed: int = 7,
    summary_every: float = 5.0,
) -> None:
    """Play a simulated contact center: through Kafka against running workers, --offline, or --replay."""
    if replay is not None:
        _replay(replay, routing, policy, domain, seed, as_json)
        return
    loaded = _load(scenario or DEFAULT_SCENARIO)
    if offline:
        from contact_router.sim.offline import OfflineSimulator, with_scoring

        config = _routing(routing) if routing is not None else loaded.routing
        if policy is not None:
            config = with_scoring(config, policy)
        recorded: list[bytes] | None = [] if record is not None else None
        sim = OfflineSimulator.from_scenario(loaded.model_copy(update={"routing": config}), seed=seed, record=recorded)
        report = _run_offline(sim, loaded.name, show=not as_json)
        if record is not None and recorded is not None:
            record.write_bytes(b"".join(recorded))
        typer.echo(json.dumps(report.as_dict(), indent=2) if as_json else report.render())
        return

    _run_online(loaded, seed, duration, speed, summary_every, as_json)


def _run_offline(sim, title: str, *, show: bool):  # noqa: ANN001, ANN202 - keeps the imports lazy
    from contact_router.sim.progress import ProgressBar, interactive, live_summary

    if not (show and interactive()):
        return sim.run()
    with ProgressBar(sim.workload.horizon, title) as bar:
        report = sim.run(on_progress=lambda t, live: bar.update(t, live_summary(**live)))  # type: ignore[arg-type]
        bar.update(sim.workload.horizon, live_summary(**sim.live()))  # type: ignore[arg-type]
    return report


def _run_online(scenario, seed: int, duration: float | None, speed: float, summary_every: float, as_json: bool) -> None:  # noqa: ANN001
    """Through Kafka: a progress bar and live summary on a terminal, summary lines otherwise; a
    final report (text or JSON) at the end or on Ctrl-C."""
    from contact_router.sim.platform import PlatformSimulator, render_report
    from contact_router.sim.progress import ProgressBar, interactive, live_summary

    show_bar = interactive() and not as_json
    bar: ProgressBar | None = None

    def tick(sim: PlatformSimulator) -> None:
        if bar is not None:
            st = sim.stats
            summary = live_summary(st.arrived, st.answered, st.abandoned, st.waiting, st.service_level())
            bar.update(min(sim.now(), sim.end), summary)

    sim = PlatformSimulator(
        scenario,
        Settings(),
        seed=seed,
        duration=duration,
        speed=speed,
        summary_every=summary_every,
        on_summary=None if as_json or show_bar else print,  # JSON output stays parseable
        on_tick=tick,
    )
    with contextlib.ExitStack() as stack:
        if show_bar:
            bar = stack.enter_context(ProgressBar(sim.end, scenario.name))
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(sim.run())
    report = sim.report()
    typer.echo(json.dumps(report, indent=2) if as_json else render_report(report))


def _routing(path: Path):  # noqa: ANN202 - keeps the import lazy
    from pydantic import ValidationError

    from contact_router.routing.config import load_routing_config

    try:
        return load_routing_config(path)
    except (OSError, ValidationError) as exc:
        typer.echo(f"{path}: invalid routing config: {exc}", err=True)
        raise typer.Exit(2) from None


def _replay(path: Path, routing: Path | None, policy: str | None, domain: str | None, seed: int, as_json: bool) -> None:
    from contact_router.routing.config import RoutingConfig
    from contact_router.sim.offline import OfflineSimulator, recorded_report, with_scoring
    from contact_router.sim.workload import from_recording, read_recording

    with path.open("rb") as handle:
        envelopes = read_recording(handle)
    try:
        workload = from_recording(envelopes, name=path.name, domain=domain)
    except ValueError as exc:
        typer.echo(f"{path}: {exc}", err=True)
        raise typer.Exit(2) from None
    config = _routing(routing) if routing is not None else RoutingConfig()
    if policy is not None:
        config = with_scoring(config, policy)
    before = recorded_report(envelopes, workload)
    after = OfflineSimulator(workload, config, seed=seed).run()
    if as_json:
        typer.echo(json.dumps({"as_recorded": before.as_dict(), "what_if": after.as_dict(), "notes": workload.notes}, indent=2))
        return
    typer.echo(before.render())
    typer.echo("")
    typer.echo(after.render().replace(f"scenario {workload.name}", f"scenario {workload.name}, what-if", 1))
    for note in workload.notes:
        typer.echo(f"note: {note}")


@app.command()
def demo(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML.")] = DEFAULT_SCENARIO,
    workers: Annotated[int, typer.Option(min=1, max=8, help="Worker processes to start.")] = 1,
    duration: Annotated[float | None, typer.Option(help="Seconds to run; default until Ctrl-C.")] = None,
    run_dir: Annotated[Path, typer.Option(help="Where worker logs go.")] = Path("deploy/.run"),
) -> None:
    """Start workers and a simulated contact center against them, printing a live summary."""
    from contact_router.monitoring.local import TARGETS_FILE, LocalMonitoring, where_to_look
    from contact_router.monitoring.targets import write_targets
    from contact_router.processes import start_worker, stop_workers, wait_until_routing
    from contact_router.sim.platform import PlatformSimulator

    loaded = _load(scenario)
    settings = Settings()
    held = asyncio.run(_lost_store_records(settings))
    if held:
        typer.echo(
            f"the demo's Redis has no state (no store marker) while its input topics hold {held} records: "
            "its state was lost, or it predates the marker. Workers would wait for a rebuild. Either replay "
            f"those records: `CONTACT_ROUTER_CUSTOMER_REF_KEY=$(cat {run_dir / 'customer-ref.key'}) "
            ".venv/bin/contact-router rebuild`, or start the demo afresh: `deploy/stack down`, remove "
            f"{run_dir}, and run deploy/demo again.",
            err=True,
        )
        raise typer.Exit(2)
    ports = [settings.metrics_port + i for i in range(workers)]
    logs = [run_dir / f"worker-{i}.log" for i in range(workers)]
    # The workers route by the scenario's routing section, as the offline simulator does.
    # The demo center is small: per-agent series feed the Agents board's leaderboard.
    env = {"CONTACT_ROUTER_ROUTING_CONFIG": str(scenario.resolve()), "CONTACT_ROUTER_PER_AGENT_METRICS_LIMIT": "100"}
    if settings.customer_ref_key is None:
        env["CONTACT_ROUTER_CUSTOMER_REF_KEY"] = _demo_key(run_dir / "customer-ref.key")
    monitoring = LocalMonitoring.load(run_dir)
    # The local Prometheus (deploy/stack) scrapes the ports listed in this file.
    targets = monitoring.targets_file if monitoring else run_dir / TARGETS_FILE
    procs = [
        start_worker(i, metrics_port=port, log_path=log, env=env)
        for i, (port, log) in enumerate(zip(ports, logs, strict=True))
    ]
    write_targets(targets, ports)
    try:
        typer.echo("where to look:")
        for i, (port, log) in enumerate(zip(ports, logs, strict=True)):
            typer.echo(f"  worker {i}        http://127.0.0.1:{port}/metrics   log: {log}")
        for line in where_to_look(monitoring):
            typer.echo(f"  {line}")
        typer.echo("waiting for the workers to join the consumer group...")
        wait_until_routing(ports, procs)
        typer.echo(f"routing; simulating {loaded.name!r}. Ctrl-C stops.")
        sim = PlatformSimulator(loaded, settings, duration=duration if duration is not None else math.inf)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(sim.run())
        typer.echo("final: " + sim.summary_line(0).split("]", 1)[1])
    except KeyboardInterrupt:
        pass
    finally:
        typer.echo("stopping workers...")
        write_targets(targets, [])
        stop_workers(procs)


async def _lost_store_records(settings: Settings) -> int:
    """Input records held on Kafka while the store has no marker (0 when the store is fine)."""
    from contact_router.stream.rebuild import records_held
    from contact_router.stream.worker import build_store

    store = build_store(settings)
    try:
        if await store.marker() is not None:
            return 0
        return await records_held(settings)
    finally:
        await store.close()


def _demo_key(path: Path) -> str:
    """The demo's key for hashing customer references, made once (readable by its owner only) and kept,
    so the demo's customers link up across runs as they would in production."""
    import os
    import secrets

    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return path.read_text().strip()


@app.command("webhook-receiver")
def webhook_receiver(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 9095,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 in a container).")] = "127.0.0.1",
    log: Annotated[Path | None, typer.Option(help="Also append each alert to this file.")] = None,
) -> None:
    """Receive Alertmanager's webhooks and print each alert: a stand-in for paging and chat."""
    from contact_router.monitoring.webhook import serve

    serve(port, host, log)


@app.command()
def staffing(
    calls: Annotated[float, typer.Option(min=0, help="Contacts arriving in the interval.")],
    aht: Annotated[float, typer.Option(min=0.001, help="Average handle time, seconds (talk + hold + wrap-up).")],
    threshold: Annotated[float, typer.Option(min=0, help="Service-level threshold, seconds (the T of 80/T).")],
    interval: Annotated[float, typer.Option(min=1, help="Interval length, seconds.")] = 1800,
    target_sl: Annotated[float, typer.Option(min=0, max=1, help="Service-level target.")] = 0.8,
    agents: Annotated[int | None, typer.Option(min=1, help="Also show the figures with this many agents.")] = None,
    patience: Annotated[
        float | None, typer.Option(min=0.001, help="Mean patience, seconds: Erlang A (abandonment) instead of C.")
    ] = None,
    shrinkage: Annotated[float, typer.Option(min=0, max=0.99, help="Share of paid time off the phones.")] = 0.0,
    max_occupancy: Annotated[float, typer.Option(min=0.01, max=1, help="Cap on agents' occupancy.")] = 1.0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Agents required for a service-level target (Erlang C, or Erlang A with --patience)."""
    from contact_router.staffing import agents_required, scheduled_agents
    from contact_router.staffing.erlang import figures

    rate = calls / interval
    required = agents_required(rate, aht, threshold, target_sl, patience, max_occupancy)
    doc: dict[str, object] = {
        "model": "erlang_a" if patience is not None else "erlang_c",
        "required": required.as_dict(),
        "scheduled_agents": scheduled_agents(required.agents, shrinkage),
    }
    if agents is not None:
        doc["with_agents"] = figures(rate, aht, agents, threshold, patience).as_dict()
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
        return
    model = "Erlang A" if patience is not None else "Erlang C"
    typer.echo(f"{model}: {calls:g} contacts per {interval:g} s, AHT {aht:g} s, target {target_sl:.0%} within {threshold:g} s")

    def describe(f: dict) -> str:  # type: ignore[type-arg]
        text = (
            f"service level {f['service_level']:.1%}, P(wait) {f['probability_of_waiting']:.3f}, "
            f"ASA {f['asa_seconds']:.1f} s, occupancy {f['occupancy']:.1%}"
        )
        return text + (f", P(abandon) {f['probability_of_abandoning']:.3f}" if patience is not None else "")

    typer.echo(f"required: {required.agents} agents on the phones: {describe(doc['required'])}")  # type: ignore[arg-type]
    typer.echo(f"schedule: {doc['scheduled_agents']} agents (shrinkage {shrinkage:.0%})")
    if agents is not None:
        typer.echo(f"with {agents} agents: {describe(doc['with_agents'])}")  # type: ignore[arg-type]


@app.command()
def forecast(
    csv_path: Annotated[Path, typer.Option("--csv", help="Arrivals: CSV of date,bin_start,calls (bins within half hours).")],
    until: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="First day NOT used: fit on the days before.")],
    weeks: Annotated[int, typer.Option(min=1, help="Weeks of history per weekday and half hour.")] = 8,
    out: Annotated[Path, typer.Option(help="Profile file to write (YAML), for the routing config to name.")] = Path(
        "profile.yaml"
    ),
    timezone: Annotated[str, typer.Option(help="IANA zone of the CSV's wall clock.")] = "UTC",
) -> None:
    """Fit a half-hour arrivals profile (per weekday) on history and write it for the engine."""
    from contact_router.staffing import forecast as fc

    try:
        profile = fc.SeasonalProfile(weeks=weeks).fit(fc.read_half_hours(csv_path), until.date())
        profile = fc.ForecastProfile.model_validate({**profile.model_dump(), "timezone": timezone})
    except (OSError, ValueError) as exc:
        typer.echo(f"{csv_path}: {exc}", err=True)
        raise typer.Exit(2) from None
    fc.save_profile(profile, out)
    typer.echo(f"{out}: {profile.method}, days before {profile.fitted_until}")
    for day, values in profile.weekdays.items():
        typer.echo(f"  {fc.WEEKDAY_NAMES[day]:<9} {sum(values):8.0f} expected, peak {max(values):.0f} per half hour")


bench = typer.Typer(no_args_is_help=True, help="Benchmarks (code in benchmarks/ of a source checkout).")
app.add_typer(bench, name="bench")


def _benchmarks():  # noqa: ANN202 - the benchmarks live beside src/ in a checkout, not in the package
    import sys

    root = Path(__file__).resolve().parents[2]
    if not (root / "benchmarks").is_dir():
        typer.echo("benchmarks/ not found: run from a source checkout (pip install -e .)", err=True)
        raise typer.Exit(2)
    sys.path.insert(0, str(root))
    import benchmarks

    return benchmarks


@bench.command("quality")
def bench_quality(
    scenario: Annotated[list[Path] | None, typer.Option(help="Scenario YAML (repeatable).")] = None,
    seeds: Annotated[int, typer.Option(min=1, help="Seeds (simulated days) per policy; medians are reported.")] = 5,
    max_hours: Annotated[
        float | None, typer.Option(min=0.01, help="Simulate at most this many hours of each (not replayed) scenario.")
    ] = None,
) -> None:
    """Routing quality of every scoring policy on the scenarios, with the offline simulator."""
    _benchmarks()
    from benchmarks.quality import run

    typer.echo(run(scenario or sorted(Path("scenarios").glob("*.yaml")), seeds, max_hours))


@bench.command("forecast")
def bench_forecast(
    csv_path: Annotated[Path, typer.Option("--csv", help="Arrivals CSV (date,bin_start,calls).")] = Path(
        "../shared/data/anonymous_bank_1999_arrivals_6min.csv"
    ),
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Half-hour arrival forecasts a week ahead on the bank's 1999 data, against baselines."""
    _benchmarks()
    from benchmarks.forecast import render, run

    result = run(csv_path)
    typer.echo(json.dumps(result, indent=2) if as_json else render(result))


@bench.command("warnings")
def bench_warnings(
    scenario: Annotated[list[Path] | None, typer.Option(help="Scenario YAML (repeatable).")] = None,
    first: Annotated[
        list[str] | None,
        typer.Option(help="Replays: first date (YYYY-MM-DD) of a window; repeat to pool several. Default the scenario's."),
    ] = None,
    days: Annotated[int, typer.Option(min=1, help="Consecutive replayed days (or seeds) per window.")] = 14,
    forecast: Annotated[
        bool, typer.Option(help="Replays: give the queues a forecast fitted on the days before each replayed day.")
    ] = False,
) -> None:
    """Recall, precision and lead time of the early warnings, judged in the offline simulator."""
    _benchmarks()
    from datetime import date

    from benchmarks.early_warning import render

    starts = [date.fromisoformat(f) for f in first] if first else [None]
    for path in scenario or [Path("scenarios/bank-day.yaml")]:
        typer.echo(render(path, starts, days, forecast))


@bench.command("throughput")
def bench_throughput(
    scenario: Annotated[Path, typer.Option(help="Scenario whose recorded input stream is the backlog.")] = DEFAULT_SCENARIO,
    events: Annotated[int, typer.Option(min=1000, help="Events in the backlog.")] = 150_000,
    repeats: Annotated[int, typer.Option(min=1, help="Runs of each process; medians are reported.")] = 3,
    partitions: Annotated[int, typer.Option(min=1, help="Partitions per input topic.")] = 12,
    domains: Annotated[
        int, typer.Option(min=1, help="Domains the backlog is spread over; several per partition, so two workers split it evenly.")
    ] = 96,
    port: Annotated[int, typer.Option(help="First metrics port of the processes under test.")] = 19800,
    processes: Annotated[
        str, typer.Option(help="Which to run, comma-separated: relay, faust, '2 faust', worker, '2 workers'.")
    ] = "relay,faust,2 faust,worker,2 workers",
    plot: Annotated[Path | None, typer.Option(help="Write a PNG bar chart here.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Events/s one worker and two drain from a backlog, next to a raw aiokafka relay and one and two no-op Faust agents."""
    _benchmarks()
    from benchmarks.throughput import render, run

    settings = Settings()
    result = run(
        settings.kafka_bootstrap, settings.redis_url.get_secret_value(), scenario=scenario, events=events,
        repeats=repeats, partitions=partitions, domains=domains, port=port, kinds=[k.strip() for k in processes.split(",")],
    )
    if plot is not None:
        from benchmarks.plots import throughput

        throughput(result, plot)
    typer.echo(json.dumps(result.as_dict(), indent=2) if as_json else render(result))


@bench.command("latency")
def bench_latency(
    max_rate: Annotated[float, typer.Option(help="A worker's drain rate (events/s) from `bench throughput`.")],
    fractions: Annotated[str, typer.Option(help="Rates to run, as fractions of --max-rate.")] = "0.25,0.5,0.8",
    rates: Annotated[str, typer.Option(help="Further fixed rates (events/s), comma-separated.")] = "1000",
    seconds: Annotated[float, typer.Option(min=5, help="Measured window per rate, after a 60 s warm-up.")] = 60.0,
    scenario: Annotated[Path, typer.Option(help="Scenario whose recorded input stream is played.")] = DEFAULT_SCENARIO,
    partitions: Annotated[int, typer.Option(min=1)] = 12,
    port: Annotated[int, typer.Option(help="Metrics port of the process under test.")] = 19810,
    scrape_seconds: Annotated[
        float, typer.Option(min=0, help="Scrape the worker's /metrics this often, as deploy/prometheus does; 0: never.")
    ] = 5.0,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG of the percentiles by rate here.")] = None,
    closed_loop: Annotated[
        bool, typer.Option(help="Load from the online simulator, whose agents answer the worker's own offers (no baseline rows).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Arrival -> decision latency of a worker at fixed rates, next to raw Kafka, a relay and a no-op Faust agent at the same rates."""
    _benchmarks()
    from benchmarks.latency import as_dicts, render, run

    chosen = [max_rate * float(f) for f in fractions.split(",") if f] + [float(r) for r in rates.split(",") if r]
    settings = Settings()
    points = run(
        settings.kafka_bootstrap, settings.redis_url.get_secret_value(), scenario=scenario, rates=sorted(chosen),
        seconds=seconds, partitions=partitions, port=port, scrape_seconds=scrape_seconds, closed_loop=closed_loop,
    )
    if plot is not None:
        from benchmarks.plots import latency

        latency(points, plot)
    typer.echo(json.dumps(as_dicts(points), indent=2) if as_json else render(points))


@bench.command("chaos")
def bench_chaos(
    contacts: Annotated[int, typer.Option(min=100, help="Contacts to play (about; repeats come on top).")] = 100_000,
    rate: Annotated[
        float, typer.Option(min=1, help="Contacts per wall second (sets the speed factor); 100/s overloads a 2-core machine.")
    ] = 40.0,
    workers: Annotated[int, typer.Option(min=1, max=8)] = 2,
    kills: Annotated[int, typer.Option(min=0, help="Workers SIGKILLed (and restarted), at >= 20% progress.")] = 3,
    broker_restarts: Annotated[int, typer.Option(min=0)] = 1,
    redis_restarts: Annotated[int, typer.Option(min=0)] = 1,
    join_leave: Annotated[bool, typer.Option(help="A worker joins mid-run and later leaves.")] = True,
    hard: Annotated[bool, typer.Option(help="SIGKILL the broker and Redis instead of restarting them cleanly.")] = False,
    run_dir: Annotated[Path, typer.Option(help="Logs and the servers' data.")] = Path("deploy/.run/chaos"),
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Faults under load: workers killed, the broker and Redis restarted (private ones, on ports
    39110-39112), then the promises checked from the topics and the store (docs/chaos.md). Exit
    code 1 if broken. The result is also written to <run-dir>/result.json."""
    _benchmarks()
    from benchmarks.chaos import ChaosConfig, main_json, render, run

    config = ChaosConfig(
        contacts=contacts, rate=rate, workers=workers, kills=kills, broker_restarts=broker_restarts,
        redis_restarts=redis_restarts, join_leave=join_leave, hard=hard,
    )  # fmt: skip
    result = run(config, run_dir, summary=None if as_json else print)
    (run_dir / "result.json").write_text(main_json(result))
    typer.echo(main_json(result) if as_json else render(result))
    if not result.ok:
        raise typer.Exit(1)


@bench.command("soak")
def bench_soak(
    rate: Annotated[float, typer.Option(help="Events/s to play (the issue asks for 50% of a worker's maximum).")],
    minutes: Annotated[float, typer.Option(min=1)] = 30.0,
    scenario: Annotated[Path, typer.Option(help="Scenario whose recorded input stream is played.")] = DEFAULT_SCENARIO,
    partitions: Annotated[int, typer.Option(min=1)] = 12,
    port: Annotated[int, typer.Option(help="Metrics port of the worker.")] = 19815,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG of RSS over time here.")] = None,
    closed_loop: Annotated[
        bool, typer.Option("--closed-loop", help="Load from the online simulator answering the worker's offers.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A worker's resident memory over a long run at a steady rate (growth after the warm-up)."""
    _benchmarks()
    from benchmarks.soak import render, run

    settings = Settings()
    result = run(
        settings.kafka_bootstrap, settings.redis_url.get_secret_value(), scenario=scenario, rate=rate,
        minutes=minutes, partitions=partitions, port=port, closed_loop=closed_loop,
    )
    if plot is not None:
        from benchmarks.plots import soak

        soak(result, plot)
    typer.echo(json.dumps(result.as_dict(), indent=2) if as_json else render(result))


if __name__ == "__main__":
    app()
