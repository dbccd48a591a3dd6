"""Staffing: how many agents a queue needs for its service-level target (Erlang C, Erlang A), and
how many contacts to expect per half hour (seasonal profiles)."""

from contact_router.staffing.erlang import QueueFigures, agents_required, erlang_a, erlang_c, scheduled_agents
from contact_router.staffing.forecast import ForecastProfile, SeasonalProfile, load_profile, save_profile

__all__ = [
    "ForecastProfile",
    "QueueFigures",
    "SeasonalProfile",
    "agents_required",
    "erlang_a",
    "erlang_c",
    "load_profile",
    "save_profile",
    "scheduled_agents",
]
