"""The one entry point: `contact-router worker | simulate | demo | schemas`."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated

import typer

from contact_router.settings import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Real-time skills-based contact routing.")

DEFAULT_SCENARIO = Path("scenarios/demo.yaml")


@app.command()
def worker() -> None:
    """Run one routing worker (a Faust worker; settings from CONTACT_ROUTER_* variables)."""
    from contact_router.stream.worker import build_worker

    build_worker(Settings()).execute_from_commandline()


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
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML.")] = DEFAULT_SCENARIO,
    offline: Annotated[
        bool, typer.Option(help="Discrete-event run on a virtual clock with the same routing core; no Kafka.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Offline: print the report as JSON.")] = False,
    policy: Annotated[
        str | None, typer.Option(help="Offline: score every queue with this policy (e.g. best_skilled), to compare.")
    ] = None,
    duration: Annotated[float | None, typer.Option(help="Online: seconds to run; default until Ctrl-C.")] = None,
    seed: int = 7,
    summary_every: float = 5.0,
) -> None:
    """Play a simulated contact center: through Kafka against running workers, or --offline."""
    loaded = _load(scenario)
    if offline:
        import json

        from contact_router.sim.offline import OfflineSimulator, with_policy

        if policy is not None:
            loaded = with_policy(loaded, policy)
        report = OfflineSimulator(loaded, seed=seed).run()
        typer.echo(json.dumps(report.as_dict(), indent=2) if as_json else report.render())
        return

    from contact_router.sim.platform import PlatformSimulator

    sim = PlatformSimulator(loaded, Settings(), seed=seed, duration=duration, summary_every=summary_every)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(sim.run())
    typer.echo("final: " + sim.summary_line(0).split("]", 1)[1])


@app.command()
def demo(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML.")] = DEFAULT_SCENARIO,
    workers: Annotated[int, typer.Option(min=1, max=8, help="Worker processes to start.")] = 1,
    duration: Annotated[float | None, typer.Option(help="Seconds to run; default until Ctrl-C.")] = None,
    run_dir: Annotated[Path, typer.Option(help="Where worker logs go.")] = Path("deploy/.run"),
) -> None:
    """Start workers and a simulated contact center against them, printing a live summary."""
    from contact_router.processes import start_worker, stop_workers, wait_until_routing
    from contact_router.sim.platform import PlatformSimulator

    loaded = _load(scenario)
    settings = Settings()
    ports = [settings.metrics_port + i for i in range(workers)]
    logs = [run_dir / f"worker-{i}.log" for i in range(workers)]
    procs = [start_worker(i, metrics_port=port, log_path=log) for i, (port, log) in enumerate(zip(ports, logs))]
    try:
        for port, log in zip(ports, logs):
            typer.echo(f"worker metrics: http://127.0.0.1:{port}/metrics   log: {log}")
        typer.echo("waiting for the workers to join the consumer group...")
        wait_until_routing(ports, procs)
        typer.echo(f"routing; simulating {loaded.name!r}. Ctrl-C stops.")
        sim = PlatformSimulator(loaded, settings, duration=duration)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(sim.run())
        typer.echo("final: " + sim.summary_line(0).split("]", 1)[1])
    except KeyboardInterrupt:
        pass
    finally:
        typer.echo("stopping workers...")
        stop_workers(procs)


if __name__ == "__main__":
    app()
