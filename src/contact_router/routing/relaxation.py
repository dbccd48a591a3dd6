"""Bullseye relaxation: a waiting contact's requirements widen step by step, so nobody waits forever
for a perfect match. Steps apply cumulatively to the requirements the contact arrived with."""

from __future__ import annotations

from contact_router.routing.config import QueuePolicy, RelaxationStep
from contact_router.routing.model import Contact


def step_reached(policy: QueuePolicy, waited_seconds: float) -> int:
    return sum(1 for step in policy.relaxation if step.after_seconds <= waited_seconds)


def next_step_at(contact: Contact, policy: QueuePolicy) -> float | None:
    """Event time at which the contact's next relaxation step is due, if any."""
    if contact.relaxation_step >= len(policy.relaxation):
        return None
    return contact.arrived_at + policy.relaxation[contact.relaxation_step].after_seconds


def relaxed(skills: dict[str, int], language: str | None, steps: list[RelaxationStep]) -> tuple[dict[str, int], str | None]:
    for step in steps:
        if step.skills is not None:
            skills = dict(step.skills)
        skills = {s: max(1, level - step.lower_levels_by) for s, level in skills.items() if s not in step.drop_skills}
        if step.drop_language:
            language = None
    return skills, language


def relax(contact: Contact, policy: QueuePolicy, step: int) -> None:
    """Set the contact's requirements to those of `step` (keeping what it arrived with)."""
    if contact.base_skills is None:
        contact.base_skills = dict(contact.skills)
        contact.base_language = contact.language
    contact.skills, contact.language = relaxed(contact.base_skills, contact.base_language, policy.relaxation[:step])
    contact.relaxation_step = step
