"""Realistic input streams for the Kafka benchmarks, recorded from the offline simulator.

One run of the offline simulator on a scenario gives a domain's whole input stream in order:
logins, arrivals, offers accepted or rung out, hang-ups, endings and the timer events workers
publish. The benchmarks copy it to many domains (as many tenants of one cluster would send), each
shifted by its own phase, and re-time it against a base time chosen per run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from contact_router.contract.events import INPUT_TYPES
from contact_router.sim.offline import OfflineSimulator
from contact_router.sim.scenario import load_scenario

AGENT_EVENT_PREFIX = "agent."
TIMER_FIRED = "timer.fired"


@dataclass(frozen=True)
class BenchEvent:
    """One input of one domain, `at` seconds from the run's base time."""

    at: float
    domain: str
    agent_topic: bool  # agent events go to the agent topic; contact and timer events to the contact topic
    envelope: dict[str, Any]

    def encode(self, base: float) -> bytes:
        """The envelope re-timed to `base + at` and moved to this event's domain."""
        stamped = datetime.fromtimestamp(base + self.at, tz=UTC).isoformat().replace("+00:00", "Z")
        return orjson.dumps({**self.envelope, "time": stamped, "domain": self.domain})

    def kind(self) -> str:
        return str(self.envelope["type"])


def recorded_inputs(
    scenario_path: Path, minutes: float, seed: int = 7, *, timers: bool = True
) -> list[tuple[float, dict[str, Any]]]:
    """The inputs one domain of the scenario sees in `minutes` simulated minutes, with their offsets
    from the first one (the simulator's decisions and alerts are left out: the engine makes them).
    timers=False leaves out the simulated workers' timer events too: for loads played in real time,
    where the worker under test fires its own, as in production (with them, every deadline was
    handled twice)."""
    scenario = load_scenario(scenario_path)
    scenario = scenario.model_copy(update={"hours": minutes / 60.0})
    record: list[bytes] = []
    OfflineSimulator.from_scenario(scenario, seed=seed, record=record).run()
    inputs = [orjson.loads(line) for line in record]
    inputs = [e for e in inputs if e["type"] in INPUT_TYPES and (timers or e["type"] != TIMER_FIRED)]
    t0 = datetime.fromisoformat(inputs[0]["time"]).timestamp()
    return [(datetime.fromisoformat(e["time"]).timestamp() - t0, e) for e in inputs]


def many_domains(
    inputs: list[tuple[float, dict[str, Any]]], domains: int, *, phase_seconds: float, seed: int = 1, prefix: str = "bench"
) -> list[BenchEvent]:
    """The one domain's stream copied to `domains` domains, each starting at a random phase within
    `phase_seconds`, merged into one time-ordered stream (each domain keeps its own order)."""
    rng = random.Random(seed)
    events = []
    for i in range(domains):
        phase = rng.uniform(0.0, phase_seconds)
        name = f"{prefix}-{i:04d}"
        for offset, envelope in inputs:
            events.append(BenchEvent(phase + offset, name, envelope["type"].startswith(AGENT_EVENT_PREFIX), envelope))
    events.sort(key=lambda e: e.at)  # stable: a domain's events at one instant keep their order
    return events


def phased_rate(inputs: list[tuple[float, dict[str, Any]]], phase_seconds: float, start: float, seconds: float) -> float:
    """One domain's expected input rate in the window [start, start + seconds) of the played stream
    when, as in `many_domains`, it starts at a uniformly random phase within `phase_seconds`: the
    window then covers a different part of the recording for each domain, its start (logins, a
    quieter first minute) included. An event at offset t is in the window for the phases in
    [start - t, start + seconds - t), cut to [0, phase_seconds]."""
    if seconds <= 0:
        raise ValueError("the window must not be empty")
    if phase_seconds <= 0:
        return events_per_second(inputs, start, start + seconds)
    covered = sum(
        max(0.0, min(phase_seconds, start + seconds - t) - max(0.0, start - t)) for t, _ in inputs
    )
    return covered / phase_seconds / seconds


def events_per_second(inputs: list[tuple[float, dict[str, Any]]], start: float, end: float) -> float:
    """One domain's input rate between `start` and `end` seconds: after the logins (which come all at
    once) and before the scenario's end (after it, only the last contacts finish)."""
    if end <= start:
        raise ValueError("the window must not be empty")
    return sum(1 for t, _ in inputs if start <= t < end) / (end - start)
