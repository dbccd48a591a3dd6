"""The pure routing core: no I/O, no clock of its own (event time is passed in)."""

from contact_router.routing.engine import Rejection, Router
from contact_router.routing.model import Agent, Contact, ContactStatus, DomainState

__all__ = ["Agent", "Contact", "ContactStatus", "DomainState", "Rejection", "Router"]
