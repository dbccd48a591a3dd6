"""Scenario files (YAML): queues, agent groups and the people's behaviour, validated with clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from contact_router.contract import Channel
from contact_router.routing.config import RoutingConfig

Level = Annotated[int, Field(ge=1, le=5)]


class SentimentSpec(BaseModel):
    """A customer's mood while handled: a start drawn around `start`, lower the longer they waited,
    moving by a drift drawn around `drift_per_minute`, reported every `every_seconds`."""

    model_config = ConfigDict(extra="forbid")

    start: float = Field(0.2, ge=-1, le=1)
    start_spread: float = Field(0.3, ge=0, description="Stdev of the start among customers.")
    drift_per_minute: float = Field(0.0, ge=-2, le=2)
    drift_spread: float = Field(0.1, ge=0, description="Stdev of the drift among customers.")
    wait_penalty_per_minute: float = Field(0.1, ge=0, description="Start lowered by this per minute waited.")
    every_seconds: float = Field(30.0, gt=0)


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
    transfer_share: float = Field(0.0, ge=0, le=1, description="Share of answered contacts transferred.")
    callback_share: float = Field(
        0.0, ge=0, le=1, description="Share of customers asking for a callback when their patience ends."
    )
    preferred_agent_share: float = Field(
        0.0, ge=0, le=1, description="Share of contacts naming a preferred agent (a returning customer)."
    )
    transfer_to: str | None = Field(None, description="The queue they are transferred to.")
    home_handle_factor: float = Field(
        1.0, gt=0, description="Handle time of an agent working from home, relative to one in the office."
    )
    resolved_share: float = Field(1.0, ge=0, le=1, description="Share of handled contacts that end resolved.")
    repeat_share: float = Field(
        0.0, ge=0, le=1, description="Share of customers left unresolved or who hung up that contact again."
    )
    mean_repeat_after_seconds: float = Field(1800.0, gt=0, description="Mean (exponential) time before they do.")
    hop_to: str | None = Field(None, description="The queue (often another channel) some of them come back on.")
    hop_share: float = Field(0.0, ge=0, le=1, description="Share of those coming back who do so through hop_to.")
    sentiment: SentimentSpec | None = Field(None, description="Sentiment updates while a contact is handled.")


class BreakSpec(BaseModel):
    """Shrinkage: agents go away on breaks (state away, reason break) and come back."""

    model_config = ConfigDict(extra="forbid")

    mean_every_minutes: float = Field(gt=0, description="Mean (exponential) working time between breaks.")
    mean_minutes: float = Field(gt=0, description="Mean (exponential) length of a break.")


class AgentGroupSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    count: int = Field(ge=1, le=100_000)
    skills: dict[str, tuple[Level, Level]] = Field(description="Skill -> [lowest, highest] level, drawn uniformly.")
    capacity: dict[Channel, int] = Field(default_factory=lambda: {Channel.VOICE: 1})
    languages: list[str] = Field(default_factory=list)
    home_share: float = Field(0.5, ge=0, le=1, description="Share of the group working from home.")
    shift: tuple[float, float] | None = Field(
        None, description="[login hour, logout hour] from the start; default the whole run."
    )
    breaks: BreakSpec | None = None


class TimelineEntry(BaseModel):
    """Something that happens to the center at a given time, e.g. an outage: every agent with a
    skill logs out (a site, a tool or a team goes away) and, with a later `log_in`, comes back."""

    model_config = ConfigDict(extra="forbid")

    at_hours: float = Field(ge=0, description="When, in hours from the start.")
    action: Literal["log_out", "log_in"]
    skill: str = Field(description="Every agent with this skill is concerned.")


class Burst(BaseModel):
    """A spike of arrivals: rates multiplied by `factor` for a while (an incident, a campaign)."""

    model_config = ConfigDict(extra="forbid")

    at_hours: float = Field(ge=0)
    minutes: float = Field(gt=0)
    factor: float = Field(gt=0)
    queues: list[str] | None = Field(None, description="The queues concerned; default all.")


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
    hours: float = Field(1.0, gt=0, le=24 * 7, description="Simulated hours (unless replaying).")
    half_hour_profile: list[Annotated[float, Field(ge=0)]] | None = Field(
        None,
        min_length=1,
        description="Rate multipliers per half hour from the start (cycling), e.g. 48 for a day.",
    )
    replay: ReplaySpec | None = Field(
        None, description="Replay a real day; queues split it by their arrivals_per_hour."
    )
    routing: RoutingConfig = Field(
        default_factory=RoutingConfig, description="Offline simulator: the routing policy per queue."
    )
    ring_seconds: float = Field(3.0, ge=0, description="Mean time an agent takes to answer (or reject) an offer.")
    answer_share: float = Field(1.0, ge=0, le=1, description="Share of offers answered.")
    reject_share: float = Field(0.0, ge=0, le=1, description="Share of offers rejected; the rest ring out.")
    bursts: list[Burst] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list, description="Outages and returns, in any order.")

    @model_validator(mode="after")
    def _offer_shares(self) -> Scenario:
        if self.answer_share + self.reject_share > 1:
            raise ValueError("answer_share + reject_share must not exceed 1")
        return self

    @model_validator(mode="after")
    def _names_exist(self) -> Scenario:
        """Every name a field refers to must exist, and the message says which field is wrong."""
        queues = {q.name for q in self.queues}
        skills = {skill for g in self.agents for skill in g.skills}
        for i, q in enumerate(self.queues):
            if q.hop_to is not None and q.hop_to not in queues:
                raise ValueError(f"queues[{i}].hop_to: {q.hop_to!r} is not a queue of the scenario")
            if q.hop_share and q.hop_to is None:
                raise ValueError(f"queues[{i}].hop_share: needs hop_to")
        for i, b in enumerate(self.bursts):
            unknown = sorted(set(b.queues or []) - queues)
            if unknown:
                raise ValueError(f"bursts[{i}].queues: {unknown} are not queues of the scenario")
        for i, entry in enumerate(self.timeline):
            if entry.skill not in skills:
                raise ValueError(f"timeline[{i}].skill: no agent group has skill {entry.skill!r}")
        return self

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
        raise ScenarioError(f"{path}: invalid scenario:\n" + "\n".join(_describe(exc))) from None
    if scenario.routing.forecasts:  # relative to the scenario file, as for a routing config file
        forecasts = {q: path.parent / f for q, f in scenario.routing.forecasts.items()}
        scenario = scenario.model_copy(update={"routing": scenario.routing.model_copy(update={"forecasts": forecasts})})
    if scenario.replay is not None and not scenario.replay.csv.is_absolute():
        csv_path = (path.parent / scenario.replay.csv).resolve()
        if not csv_path.is_file():
            raise ScenarioError(f"{path}: replay csv {scenario.replay.csv} not found (looked in {csv_path})")
        scenario = scenario.model_copy(update={"replay": scenario.replay.model_copy(update={"csv": csv_path})})
    return scenario


def _describe(exc: ValidationError) -> list[str]:
    """One line per error, naming the field as a path (queues[0].arrivals_per_hour); checks across
    fields name theirs in the message."""
    lines = []
    for e in exc.errors():
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"]).lstrip(".")
        message = e["msg"].removeprefix("Value error, ")
        lines.append(f"  {where}: {message}" if where else f"  {message}")
    return lines
