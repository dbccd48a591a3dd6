"""Scenario files (YAML): queues, agent groups and the people's behaviour, validated with clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from contact_router.contract import Channel

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
    mean_patience_seconds: float = Field(gt=0, description="Mean of the exponential patience before abandoning.")
    priority: int = 0


class AgentGroupSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    count: int = Field(ge=1, le=100_000)
    skills: dict[str, tuple[Level, Level]] = Field(description="Skill -> [lowest, highest] level, drawn uniformly.")
    capacity: dict[Channel, int] = Field(default_factory=lambda: {Channel.VOICE: 1})
    languages: list[str] = Field(default_factory=list)
    home_share: float = Field(0.5, ge=0, le=1, description="Share of the group working from home.")


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    domains: list[str] = Field(min_length=1, description="Routing domains; each runs the whole center.")
    queues: list[QueueSpec] = Field(min_length=1)
    agents: list[AgentGroupSpec] = Field(min_length=1)
    malformed_share: float = Field(0.0, ge=0, le=0.5, description="Share of arrivals followed by a malformed event.")

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
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: cannot read scenario: {exc}") from None
    try:
        return Scenario.model_validate(doc)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ScenarioError(f"{path}: invalid scenario:\n" + "\n".join(lines)) from None
