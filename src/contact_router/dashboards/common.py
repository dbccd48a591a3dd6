"""Shared pieces of every board: the datasource, the template variables, panel defaults, PromQL filters.

Panels are built by one small function each (title, description, unit, queries) on top of these
defaults, so the boards look alike and a test can hold every panel to the same rules.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

# The provisioned datasource (grafana/provisioning/datasources/prometheus.yml): a fixed uid, so the
# generated JSON does not depend on what a Grafana instance named its datasource.
DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="prometheus")
TAG = "contact-router"
JOB = 'job="contact-router"'

# Label matchers for the template variables. Counters and histograms carry `queue` but no `domain`
# (a contact's queue is known where it is counted; its domain is the partition key), so only the
# live-state gauges can be filtered by domain.
DOMAIN = 'domain=~"$domain"'
QUEUE = 'queue=~"$queue"'
DOMAIN_QUEUE = f"{DOMAIN}, {QUEUE}"

# Supervisors' windows: rates for the engine follow the zoom ($__rate_interval); contact-center KPIs
# are averaged over fixed windows (the alert rules use the same 15m), else one contact swings them.
KPI_WINDOW = "15m"
SLOW_KPI_WINDOW = "1h"

STATE_COLORS = {"available": "green", "busy": "blue", "wrap_up": "yellow", "away": "orange", "offline": "gray"}


def query(expr: str, legend: str = "", *, instant: bool = False, table_format: bool = False) -> prometheus.Dataquery:
    """One PromQL target; refIds are filled in by `finish` so panels need not number their queries."""
    target = prometheus.Dataquery().expr(expr).datasource(DATASOURCE)
    if legend:
        target = target.legend_format(legend)
    if instant:
        target = target.instant()
    else:
        target = target.range()
    if table_format:
        target = target.format(PromQueryFormat.TABLE)
    return target


def timeseries_panel(title: str, description: str, unit: str, *, stacked: bool = False) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .line_width(1)
        .fill_opacity(20 if stacked else 10)
        .show_points(common.VisibilityMode.NEVER)
        .legend(
            common_builder.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        .tooltip(
            common_builder.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI).sort(common.SortOrder.DESCENDING)
        )
        .span(12)
        .height(8)
    )
    if stacked:
        panel = panel.stacking(common_builder.StackingConfig().mode(common.StackingMode.NORMAL))
    return panel


def stat_panel(title: str, description: str, unit: str) -> stat.Panel:
    """The latest value, large: for numbers a supervisor reads from across the room."""
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .graph_mode(common.BigValueGraphMode.AREA)
        .color_mode(common.BigValueColorMode.VALUE)
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .span(12)
        .height(8)
    )


def table_panel(title: str, description: str, unit: str) -> table.Panel:
    return table.Panel().title(title).description(description).unit(unit).datasource(DATASOURCE).span(24).height(10)


def thresholds(*steps: tuple[float | None, str]) -> dashboard.ThresholdsConfig:
    """Absolute thresholds; the first step's value is None (from minus infinity)."""
    return (
        dashboard.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=value, color=color) for value, color in steps])
    )


def threshold_lines() -> common_builder.GraphThresholdsStyleConfig:
    """Draw the thresholds on a time series as lines (where an alert would fire)."""
    return common_builder.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.LINE)


def fixed_color(color: str) -> model.DynamicConfigValue:
    return model.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": color})


def organize(rename: dict[str, str], exclude: tuple[str, ...] = ("Time",)) -> model.DataTransformerConfig:
    """Name a table's columns for people ("Value #A" means nothing on a wallboard)."""
    return model.DataTransformerConfig(
        id_val="organize",
        options={"excludeByName": dict.fromkeys(exclude, True), "renameByName": rename},
    )


def variable(name: str, label: str, values_query: str, description: str) -> dashboard.QueryVariable:
    """A multi-select filter with "All" meaning `.*`, so queries use `=~"$name"` either way."""
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .description(description)
        .datasource(DATASOURCE)
        .query(values_query)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(model.VariableOption(selected=True, text=["All"], value=["$__all"]))
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC)
    )


def domain_variable() -> dashboard.QueryVariable:
    # contact_router_agents is exported for every owned domain, five states each, even when idle.
    return variable(
        "domain", "Domain", "label_values(contact_router_agents, domain)",
        "Tenants / business units. Filters the live-state gauges; counters have no domain label.",
    )


def queue_variable() -> dashboard.QueryVariable:
    # The SL target gauge comes from the routing configuration: one series per configured queue.
    return variable(
        "queue", "Queue", 'label_values(contact_router_service_level_target_ratio{domain=~"$domain"}, queue)',
        "Queues of the selected domains.",
    )


def board(title: str, uid: str, description: str, *, time_from: str = "now-3h") -> dashboard.Dashboard:
    """A board linked to its siblings (same tag), keeping the time range and the filters."""
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG])
        .readonly()
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .refresh("30s")
        .time(time_from, "now")
        .timezone("browser")
        .link(
            dashboard.DashboardLink("Contact router")
            .type(model.DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(False)
            .include_vars(True)
            .keep_time(True)
        )
    )


def finish(builder: dashboard.Dashboard) -> model.Dashboard:
    """Number panels and queries in order, so ids are stable from one generation to the next."""
    built = builder.build()
    for panel_id, panel in enumerate(built.panels or [], start=1):
        panel.id_val = panel_id
        for index, target in enumerate(getattr(panel, "targets", None) or []):
            if not target.ref_id:
                target.ref_id = chr(ord("A") + index)
    return built
