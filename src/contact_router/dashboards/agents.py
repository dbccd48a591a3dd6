"""Agents board: who is available, how loaded they are, and how each agent is doing today."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard, stat, table, timeseries
from grafana_foundation_sdk.models import dashboard as model

from contact_router.dashboards.common import (
    DOMAIN,
    QUEUE,
    SLOW_KPI_WINDOW,
    STATE_COLORS,
    board,
    domain_variable,
    finish,
    fixed_color,
    organize,
    query,
    queue_variable,
    stat_panel,
    table_panel,
    timeseries_panel,
)

UID = "contact-router-agents"
AGENTS_BY_STATE = f"sum by (state) (contact_router_agents{{{DOMAIN}}})"


def build() -> model.Dashboard:
    # From midnight: the leaderboard is "today so far", as supervisors read it.
    return finish(
        board("Contact router / Agents", UID, "Agent states, occupancy, handle time and the leaderboard.",
              time_from="now/d")
        .with_variable(domain_variable())
        .with_variable(queue_variable())
        .with_row(dashboard.Row("States"))
        .with_panel(agents_now())
        .with_panel(occupancy())
        .with_panel(agents_by_state())
        .with_panel(aht_by_location())
        .with_row(dashboard.Row("Leaderboard"))
        .with_panel(leaderboard())
        .with_row(dashboard.Row("Routing"))
        .with_panel(offers_timed_out())
        .with_panel(agents_set_away())
    )


def _color_states(panel: stat.Panel | timeseries.Panel) -> stat.Panel | timeseries.Panel:
    for state, color in STATE_COLORS.items():
        panel = panel.override_by_name(state, [fixed_color(color)])
    return panel


def agents_now() -> stat.Panel:
    return _color_states(
        stat_panel(
            "Agents now",
            "Agents of the selected domains by state. Busy: holding a contact; wrap-up: after-contact work; "
            "away: logged in but paused; offline: logged out.",
            "short",
        )
        .with_target(query(AGENTS_BY_STATE, "{{state}}"))
    )


def occupancy() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Occupancy",
            "Mean share of logged-in time agents spend handling contacts (talk, hold, wrap-up). "
            "Sustained values above ~85% burn agents out; low values mean overstaffing.",
            "percentunit",
        )
        .min(0)
        .max(1)
        .with_target(query(f"max by (domain) (contact_router_occupancy_ratio{{{DOMAIN}}})", "{{domain}}"))
    )


def agents_by_state() -> timeseries.Panel:
    return _color_states(
        timeseries_panel("Agents by state", "Agents of the selected domains by state, stacked.", "short", stacked=True)
        .with_target(query(AGENTS_BY_STATE, "{{state}}"))
    )


def aht_by_location() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Average handle time by location",
            "Talk + hold + wrap-up per contact handled in the last hour, home vs office agents, for the selected "
            "queues.",
            "s",
        )
        .with_target(query(
            f"sum by (location) (rate(contact_router_handle_seconds_sum{{{QUEUE}}}[{SLOW_KPI_WINDOW}]))"
            f" / sum by (location) (rate(contact_router_handle_seconds_count{{{QUEUE}}}[{SLOW_KPI_WINDOW}]))",
            "{{location}}",
        ))
    )


def _per_agent(counter: str) -> str:
    return f"sum by (agent) (increase(contact_router_agent_{counter}_total[$__range]))"


def leaderboard() -> table.Panel:
    return (
        table_panel(
            "Leaderboard",
            "Per agent over the dashboard's time range: contacts handled, average handle time, mean CSAT, and "
            "occupancy now. All domains: the per-agent counters have no domain label. Empty when per-agent "
            "metrics are turned off (large centers).",
            "short",
        )
        .with_target(query(_per_agent("handled"), instant=True, table_format=True))
        .with_target(query(f"{_per_agent('handle_seconds')} / {_per_agent('handled')}", instant=True,
                           table_format=True))
        .with_target(query(f"{_per_agent('csat_score')} / {_per_agent('csat_ratings')}", instant=True,
                           table_format=True))
        .with_target(query("max by (agent) (contact_router_agent_occupancy_ratio)", instant=True, table_format=True))
        .with_transformation(model.DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(organize({
            "agent": "Agent", "Value #A": "Handled", "Value #B": "AHT", "Value #C": "CSAT", "Value #D": "Occupancy",
        }))
        .sort_by([common_builder.TableSortByFieldState().display_name("Handled").desc(True)])
        .override_by_name("AHT", [model.DynamicConfigValue(id_val="unit", value="s")])
        .override_by_name("CSAT", [model.DynamicConfigValue(id_val="decimals", value=2)])
        .override_by_name("Occupancy", [model.DynamicConfigValue(id_val="unit", value="percentunit")])
    )


def offers_timed_out() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Offers not answered in time",
            "Offers per minute an agent did not accept before the queue's offer timeout; the contact is re-queued.",
            "cpm",
        )
        .with_target(query(
            f"sum by (queue) (rate(contact_router_offers_timed_out_total{{{QUEUE}}}[$__rate_interval])) * 60",
            "{{queue}}",
        ))
    )


def agents_set_away() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Agents set away by the router",
            "Agents per hour the router paused, by reason (e.g. missed offers in a row).",
            "short",
        )
        .with_target(query(
            "sum by (reason) (rate(contact_router_agents_paused_total[$__rate_interval])) * 3600", "{{reason}}"
        ))
    )
