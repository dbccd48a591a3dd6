"""Who may take a contact, and who is best: the skills-based matching rules."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from contact_router.routing.model import Agent, Contact


def meets_requirements(agent: Agent, contact: Contact) -> bool:
    """Every required skill at or above its minimum level, the language, and a capacity for the channel."""
    if agent.capacity.get(contact.channel, 0) <= 0:
        return False
    if contact.language is not None and contact.language not in agent.languages:
        return False
    return all(agent.skills.get(skill, 0) >= level for skill, level in contact.skills.items())


def can_serve(agent: Agent, contact: Contact) -> bool:
    """Meets the requirements, has not declined or missed this contact before, and is the preferred
    agent while the contact still waits for them."""
    if contact.preferred_until is not None and agent.agent_id != contact.preferred_agent_id:
        return False
    return agent.agent_id not in contact.skipped_agents and meets_requirements(agent, contact)


def proficiency(agent: Agent, contact: Contact) -> float:
    """Mean level of the agent on the contact's required skills (0 when nothing is required)."""
    if not contact.skills:
        return 0.0
    return sum(agent.skills.get(skill, 0) for skill in contact.skills) / len(contact.skills)


def best_contact(
    waiting: Iterable[Contact],
    agent: Agent,
    order: Callable[[Contact], tuple[float, float, str]],
    blocks: Mapping[str, list[str]],
) -> Contact | None:
    """The highest-priority, longest-waiting contact this agent can take now."""
    candidates = (c for c in waiting if agent.can_take(c.channel, blocks) and can_serve(agent, c))
    return min(candidates, key=order, default=None)
