"""Routing policy per queue: how long offers ring, how long wrap-up lasts, when an agent is paused.

Pure data: loaded from YAML by the entry points (settings name the file) and handed to the Router.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from contact_router.alerts.config import AlertPolicy

Scoring = Literal["blend", "best_skilled", "longest_idle", "least_occupied", "round_robin", "random"]


class BlendWeights(BaseModel):
    """Weights of the blend's components, each scaled to [0, 1]: proficiency (mean level / 5), idle
    time (idle / (idle + idle_half_seconds)) and spare occupancy (1 - occupancy over the window)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    skill: float = Field(0.5, ge=0)
    idle: float = Field(0.25, ge=0)
    spare: float = Field(0.25, ge=0)
    idle_half_seconds: float = Field(300.0, gt=0, description="Idle time that scores half.")


class RelaxationStep(BaseModel):
    """After waiting this long, widen the contact's requirements (steps apply cumulatively)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    after_seconds: float = Field(gt=0)
    lower_levels_by: int = Field(0, ge=0, le=4, description="Every minimum level goes down by this (not below 1).")
    drop_skills: list[str] = Field(default_factory=list, description="Optional skills no longer required.")
    skills: dict[str, Annotated[int, Field(ge=1, le=5)]] | None = Field(
        None, description="Replace the requirements, e.g. overflow to another group's skill."
    )
    drop_language: bool = False


class QueuePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    scoring: Scoring = Field("blend", description="How the agent for a contact is chosen among those who can take it.")
    weights: BlendWeights = BlendWeights()

    offer_timeout_seconds: float | None = Field(
        None,
        gt=0,
        description="Offers wait this long for contact.accepted, then go back to the queue. "
        "None: an assignment is final at once (auto-answer).",
    )
    wrap_up_seconds: float = Field(0.0, ge=0, description="Timed after-contact work once a contact ends.")
    max_missed_offers: int = Field(3, ge=1, description="Missed offers in a row that pause the agent.")
    max_handle_seconds: float | None = Field(
        4 * 3600.0,
        gt=0,
        description="A contact in progress with no end after this is closed as expired and its agent freed "
        "(its end event was lost). None: never.",
    )
    max_wait_seconds: float | None = Field(
        None, gt=0, description="A contact waiting this long is closed as expired. None: it waits until served."
    )
    preferred_agent_seconds: float = Field(
        30.0, ge=0, description="How long a contact waits for its preferred agent before anyone may take it."
    )
    priority_aging_per_minute: float = Field(
        0.0, ge=0, description="Effective priority = priority + this x minutes waited (orders contacts across queues)."
    )
    relaxation: list[RelaxationStep] = Field(
        default_factory=list, description="Bullseye steps, in increasing after_seconds."
    )
    service_level_seconds: float = Field(20.0, gt=0, description="Answered within this counts towards service level.")
    service_level_target: float = Field(0.8, gt=0, le=1, description="The share to answer within it (80/20).")
    expected_handle_seconds: float = Field(
        300.0, gt=0, description="Handle time to plan with until the queue has measured its own."
    )
    alerts: AlertPolicy = AlertPolicy()

    @model_validator(mode="after")
    def _steps_in_order(self) -> QueuePolicy:
        times = [step.after_seconds for step in self.relaxation]
        if times != sorted(set(times)):
            raise ValueError("relaxation steps must have strictly increasing after_seconds")
        return self


class RoutingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    channel_blocks: dict[str, list[str]] = Field(
        default_factory=lambda: {"voice": ["chat", "email", "social"], "chat": ["voice"], "social": ["voice"]},
        description="Held channel -> channels it blocks: while on a call, no new chats; while chatting, no calls.",
    )
    occupancy_window_seconds: float = Field(
        1800.0, gt=0, description="Time constant of the agents' occupancy average (least_occupied, blend)."
    )
    default: QueuePolicy = QueuePolicy()
    queues: dict[str, QueuePolicy] = Field(default_factory=dict, description="Per queue: what differs from default.")

    @model_validator(mode="before")
    @classmethod
    def _queues_inherit_default(cls, data: Any) -> Any:
        """A queue's entry names only what differs: the rest comes from `default`."""
        if not isinstance(data, dict) or not isinstance(data.get("queues"), dict):
            return data
        base = data.get("default") or {}
        base = base.model_dump() if isinstance(base, BaseModel) else dict(base)
        merged = {}
        for name, entry in data["queues"].items():
            entry = entry.model_dump(exclude_unset=True) if isinstance(entry, BaseModel) else dict(entry or {})
            merged[name] = {**base, **entry}
        return {**data, "queues": merged}

    def policy(self, queue: str) -> QueuePolicy:
        return self.queues.get(queue, self.default)


def load_routing_config(path: Path | None) -> RoutingConfig:
    """A routing config file, or a scenario file's `routing:` section (so one file can describe a
    simulated center and the routing its workers run)."""
    if path is None:
        return RoutingConfig()
    doc = yaml.safe_load(path.read_text()) or {}
    if isinstance(doc, dict) and "routing" in doc and "queues" in doc and isinstance(doc["queues"], list):
        doc = doc["routing"] or {}
    return RoutingConfig.model_validate(doc)
