"""Scenario files (YAML): queues, agent groups and the people's behaviour, validated with clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from contact_router.contract import Channel
from contact_router.routing.config import RoutingConfig

Level = Annotated[int, Field(ge=1, le=5)]


class QueueSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    channel: Channel = Channel.VOICE
    skills: dict[str, Level] = Field(default_factory=dict, description="Required skill -> minimum level.")
    language: str | None = None
    arrivals_per_hour: float = Field(gt=0, description="Poisson arrival rate per domain.")
    mean_handle_seconds: float = Field(gt=0, description="Mean of the lognormal handle time (talk + wrap-up).")
    handle_sigma: float = Field(0.5, ge=0, description="Sigma of the handle time's underlying normal.")
    handle_distribution: Literal["lognormal", "exponential"] = "lognormal"
    mean_patience_seconds: float = Field(gt=0, description="Mean of the exponential patience before abandoning.")
    priority: int = 0
    transfer_share: float = Field(0.0, ge=0, le=1, description="Offline: share of answered contacts transferred.")
    callback_share: float = Field(
        0.0, ge=0, le=1, description="Offline: share of customers asking for a callback when their patience ends."
    )
    preferred_agent_share: float = Field(
        0.0, ge=0, le=1, description="Offline: share of contacts naming a preferred agent (a returning customer)."
    )
    transfer_to: str | None = Field(None, description="Offline: the queue they are transferred to.")


class AgentGroupSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    count: int = Field(ge=1, le=100_000)
    skills: dict[str, tuple[Level, Level]] = Field(description="Skill -> [lowest, highest] level, drawn uniformly.")
    capacity: dict[Channel, int] = Field(default_factory=lambda: {Channel.VOICE: 1})
    languages: list[str] = Field(default_factory=list)
    home_share: float = Field(0.5, ge=0, le=1, description="Share of the group working from home.")
    shift: tuple[float, float] | None = Field(
        None, description="Offline simulator: [login hour, logout hour] from the start; default the whole run."
    )


class ReplaySpec(BaseModel):
    """Arrivals replayed from a CSV of counts per bin (date, bin_start HH:MM, calls), one day of it."""

    model_config = ConfigDict(extra="forbid")

    csv: Path
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    scale: float = Field(1.0, gt=0, description="Multiplies every count (e.g. 2.0 for a center twice as busy).")


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    domains: list[str] = Field(min_length=1, description="Routing domains; each runs the whole center.")
    queues: list[QueueSpec] = Field(min_length=1)
    agents: list[AgentGroupSpec] = Field(min_length=1)
    malformed_share: float = Field(0.0, ge=0, le=0.5, description="Share of arrivals followed by a malformed event.")
    hours: float = Field(1.0, gt=0, le=24 * 7, description="Offline simulator: simulated hours (unless replaying).")
    half_hour_profile: list[Annotated[float, Field(ge=0)]] | None = Field(
        None,
        min_length=1,
        description="Offline: rate multipliers per half hour from the start (cycling), e.g. 48 for a day.",
    )
    replay: ReplaySpec | None = Field(
        None, description="Offline simulator: replay a real day; queues split it by their arrivals_per_hour."
    )
    routing: RoutingConfig = Field(
        default_factory=RoutingConfig, description="Offline simulator: the routing policy per queue."
    )
    ring_seconds: float = Field(3.0, ge=0, description="Offline: mean time an agent takes to answer an offer.")
    answer_share: float = Field(1.0, ge=0, le=1, description="Offline: share of offers answered (the rest ring out).")

    @model_validator(mode="after")
    def _transfers_name_queues(self) -> Scenario:
        names = {q.name for q in self.queues}
        for q in self.queues:
            if q.transfer_share and q.transfer_to not in names:
                raise ValueError(f"queue {q.name}: transfer_to must name a queue of the scenario")
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> Scenario:
        for what, names in (("queue", [q.name for q in self.queues]), ("agent group", [g.name for g in self.agents])):
            dupes = {n for n in names if names.count(n) > 1}
            if dupes:
                raise ValueError(f"duplicate {what} names: {sorted(dupes)}")
        return self


class ScenarioError(ValueError):
    pass


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario; a replay CSV path is relative to the scenario file."""
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: cannot read scenario: {exc}") from None
    try:
        scenario = Scenario.model_validate(doc)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ScenarioError(f"{path}: invalid scenario:\n" + "\n".join(lines)) from None
    if scenario.routing.forecasts:  # relative to the scenario file, as for a routing config file
        forecasts = {q: path.parent / f for q, f in scenario.routing.forecasts.items()}
        scenario = scenario.model_copy(update={"routing": scenario.routing.model_copy(update={"forecasts": forecasts})})
    if scenario.replay is not None and not scenario.replay.csv.is_absolute():
        csv_path = (path.parent / scenario.replay.csv).resolve()
        if not csv_path.is_file():
            raise ScenarioError(f"{path}: replay csv {scenario.replay.csv} not found (looked in {csv_path})")
        scenario = scenario.model_copy(update={"replay": scenario.replay.model_copy(update={"csv": csv_path})})
    return scenario
