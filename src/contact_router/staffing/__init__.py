"""Staffing: how many agents a queue needs for its service-level target (Erlang C, Erlang A)."""

from contact_router.staffing.erlang import QueueFigures, agents_required, erlang_a, erlang_c, scheduled_agents

__all__ = ["QueueFigures", "agents_required", "erlang_a", "erlang_c", "scheduled_agents"]
