"""Scoring policies: among the agents who can take a contact, who is best. Every score comes with
its components, so a supervisor can see why this agent got this contact."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from contact_router.routing.config import QueuePolicy
from contact_router.routing.matching import can_serve, proficiency
from contact_router.routing.model import Agent, Contact


@dataclass(frozen=True)
class Match:
    agent: Agent
    score: float
    components: dict[str, float]


def components(agent: Agent, contact: Contact, now: float, window: float) -> dict[str, float]:
    """The facts every policy scores from, in their natural units."""
    return {
        "proficiency": round(proficiency(agent, contact), 4),
        "idle_seconds": round(max(now - agent.idle_since, 0.0), 3) if not agent.active else 0.0,
        "occupancy": round(agent.occupancy_now(now, window), 4),
        # Round robin counts from the last assignment, or from login for an agent not yet assigned.
        "since_last_assignment_seconds": round(
            now - (agent.last_assigned_at if agent.last_assigned_at is not None else agent.idle_since), 3
        ),
    }


def score(policy: QueuePolicy, agent: Agent, contact: Contact, parts: dict[str, float]) -> float:
    match policy.scoring:
        case "best_skilled":
            return parts["proficiency"]
        case "longest_idle":
            return parts["idle_seconds"]
        case "least_occupied":
            return 1.0 - parts["occupancy"]
        case "round_robin":
            return parts["since_last_assignment_seconds"]
        case "random":
            # Deterministic per (contact, agent), so replays decide alike.
            digest = hashlib.blake2b(f"{contact.contact_id}/{agent.agent_id}".encode(), digest_size=8).digest()
            return int.from_bytes(digest) / 2**64
        case _:  # blend
            w = policy.weights
            idle = parts["idle_seconds"]
            return (
                w.skill * parts["proficiency"] / 5.0
                + w.idle * idle / (idle + w.idle_half_seconds)
                + w.spare * (1.0 - parts["occupancy"])
            )


def best_agent(
    agents: Iterable[Agent],
    contact: Contact,
    policy: QueuePolicy,
    now: float,
    window: float,
    blocks: Mapping[str, list[str]],
) -> Match | None:
    """The routable agent with the highest score; ties go to the longest idle, then the lowest id."""
    best: tuple[tuple[float, float, str], Match] | None = None
    for agent in agents:
        if not (agent.can_take(contact.channel, blocks) and can_serve(agent, contact)):
            continue
        parts = components(agent, contact, now, window)
        value = score(policy, agent, contact, parts)
        rank = (-value, agent.idle_since, agent.agent_id)
        if best is None or rank < best[0]:
            best = (rank, Match(agent, value, parts))
    return None if best is None else best[1]
