"""Domain state as JSON records (agents, contacts, and the detectors' queue figures, alerts and
customer histories): the one format both stores keep, so they behave alike."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from contact_router.alerts.state import ActiveAlert, CustomerHistory, PeriodCounts, QueueStats
from contact_router.contract import AgentState, Channel
from contact_router.routing.model import Agent, Contact, ContactStatus


def agent_to_record(agent: Agent) -> bytes:
    return orjson.dumps(
        {
            "agent_id": agent.agent_id,
            "skills": agent.skills,
            "capacity": {str(ch): n for ch, n in agent.capacity.items()},
            "languages": agent.languages,
            "location": agent.location,
            "state": str(agent.state),
            "active": {cid: str(ch) for cid, ch in agent.active.items()},
            "idle_since": agent.idle_since,
            "reason": agent.reason,
            "wrap_up_until": agent.wrap_up_until,
            "missed_offers": agent.missed_offers,
            "last_assigned_at": agent.last_assigned_at,
            "occupancy": agent.occupancy,
            "occupancy_at": agent.occupancy_at,
        }
    )


def agent_from_record(raw: bytes | str) -> Agent:
    doc: dict[str, Any] = orjson.loads(raw)
    return Agent(
        agent_id=doc["agent_id"],
        skills=doc["skills"],
        capacity={Channel(ch): n for ch, n in doc["capacity"].items()},
        languages=doc["languages"],
        location=doc["location"],
        state=AgentState(doc["state"]),
        active={cid: Channel(ch) for cid, ch in doc["active"].items()},
        idle_since=doc["idle_since"],
        reason=doc.get("reason"),
        wrap_up_until=doc.get("wrap_up_until"),
        missed_offers=doc.get("missed_offers", 0),
        last_assigned_at=doc.get("last_assigned_at"),
        occupancy=doc.get("occupancy", 0.0),
        occupancy_at=doc.get("occupancy_at"),
    )


def contact_to_record(contact: Contact) -> bytes:
    return orjson.dumps(
        {
            "contact_id": contact.contact_id,
            "channel": str(contact.channel),
            "queue": contact.queue,
            "skills": contact.skills,
            "arrived_at": contact.arrived_at,
            "language": contact.language,
            "priority": contact.priority,
            "customer_ref": contact.customer_ref,
            "status": str(contact.status),
            "agent_id": contact.agent_id,
            "assigned_at": contact.assigned_at,
            "accepted": contact.accepted,
            "offer_expires_at": contact.offer_expires_at,
            "skipped_agents": contact.skipped_agents,
            "relaxation_step": contact.relaxation_step,
            "base_skills": contact.base_skills,
            "base_language": contact.base_language,
            "callback": contact.callback,
            "preferred_agent_id": contact.preferred_agent_id,
            "preferred_until": contact.preferred_until,
            "transfers": contact.transfers,
            "previous_agents": contact.previous_agents,
            "first_arrived_at": contact.first_arrived_at,
        }
    )


def contact_from_record(raw: bytes | str) -> Contact:
    doc: dict[str, Any] = orjson.loads(raw)
    return Contact(
        contact_id=doc["contact_id"],
        channel=Channel(doc["channel"]),
        queue=doc["queue"],
        skills=doc["skills"],
        arrived_at=doc["arrived_at"],
        language=doc["language"],
        priority=doc["priority"],
        customer_ref=doc["customer_ref"],
        status=ContactStatus(doc["status"]),
        agent_id=doc["agent_id"],
        assigned_at=doc["assigned_at"],
        # Records written before offers existed were final assignments.
        accepted=doc.get("accepted", doc["status"] == "assigned"),
        offer_expires_at=doc.get("offer_expires_at"),
        skipped_agents=doc.get("skipped_agents", []),
        relaxation_step=doc.get("relaxation_step", 0),
        base_skills=doc.get("base_skills"),
        base_language=doc.get("base_language"),
        callback=doc.get("callback", False),
        preferred_agent_id=doc.get("preferred_agent_id"),
        preferred_until=doc.get("preferred_until"),
        transfers=doc.get("transfers", 0),
        previous_agents=doc.get("previous_agents", []),
        first_arrived_at=doc.get("first_arrived_at"),
    )


def queue_to_record(stats: QueueStats) -> bytes:
    return orjson.dumps(stats)  # orjson writes dataclasses itself, much faster than asdict


def queue_from_record(raw: bytes | str) -> QueueStats:
    doc: dict[str, Any] = orjson.loads(raw)
    doc["current"] = PeriodCounts(**doc["current"])
    doc["previous"] = PeriodCounts(**doc["previous"])
    known = {f.name for f in dataclasses.fields(QueueStats)}
    return QueueStats(**{k: v for k, v in doc.items() if k in known})


def alert_to_record(alert: ActiveAlert) -> bytes:
    return orjson.dumps(alert)


def alert_from_record(raw: bytes | str) -> ActiveAlert:
    doc: dict[str, Any] = orjson.loads(raw)
    known = {f.name for f in dataclasses.fields(ActiveAlert)}
    return ActiveAlert(**{k: v for k, v in doc.items() if k in known})


def customer_to_record(history: CustomerHistory) -> bytes:
    return orjson.dumps(history)


def customer_from_record(raw: bytes | str) -> CustomerHistory:
    doc: dict[str, Any] = orjson.loads(raw)
    return CustomerHistory(contacts=[tuple(c) for c in doc["contacts"]], last_csat=doc.get("last_csat"))  # type: ignore[misc]
