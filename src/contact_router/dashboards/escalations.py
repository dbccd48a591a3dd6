"""Escalations board: the early warnings firing now, where, and how often they have been raised."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, dashboard, table, timeseries
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as model

from contact_router.dashboards.common import (
    DATASOURCE,
    DOMAIN_QUEUE,
    board,
    domain_variable,
    finish,
    organize,
    query,
    queue_variable,
    table_panel,
    thresholds,
    timeseries_panel,
)

UID = "contact-router-escalations"
ACTIVE = f"contact_router_escalations_active{{{DOMAIN_QUEUE}}}"


def build() -> model.Dashboard:
    return finish(
        board("Contact router / Escalations", UID, "Early warnings raised by the router, by kind and queue.")
        .with_variable(domain_variable())
        .with_variable(queue_variable())
        .with_row(dashboard.Row("Firing now"))
        .with_panel(active_by_kind())
        .with_panel(active_by_queue())
        .with_panel(active_list())
        .with_row(dashboard.Row("History"))
        .with_panel(active_over_time())
        .with_panel(raised())
    )


def _bars(title: str, description: str) -> bargauge.Panel:
    return (
        bargauge.Panel()
        .title(title)
        .description(description)
        .unit("short")
        .datasource(DATASOURCE)
        .orientation(common_model.VizOrientation.HORIZONTAL)
        .display_mode(common_model.BarGaugeDisplayMode.BASIC)
        .min(0)
        .thresholds(thresholds((None, "green"), (1, "orange")))
        .span(12)
        .height(8)
    )


def active_by_kind() -> bargauge.Panel:
    return _bars(
        "Active early warnings by kind",
        "Early warnings firing now in the selected domains and queues, by kind (e.g. sla_at_risk, "
        "sentiment_falling, handle_time_high).",
    ).with_target(query(f"sum by (kind) ({ACTIVE})", "{{kind}}", instant=True))


def active_by_queue() -> bargauge.Panel:
    return _bars(
        "Active early warnings by queue",
        "Early warnings firing now, by queue: where a supervisor should look first.",
    ).with_target(query(f"sum by (domain, queue) ({ACTIVE})", "{{domain}} / {{queue}}", instant=True))


def active_list() -> table.Panel:
    return (
        table_panel(
            "Active early warnings",
            "Every early warning firing now: domain, queue, kind and severity.",
            "short",
        )
        .with_target(query(f"sum by (domain, queue, kind, severity) ({ACTIVE}) > 0", instant=True, table_format=True))
        .with_transformation(organize({
            "domain": "Domain", "queue": "Queue", "kind": "Kind", "severity": "Severity", "Value": "Active",
        }))
    )


def active_over_time() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Active early warnings over time",
            "Early warnings firing, by kind and severity, stacked: when the trouble started and how it spread.",
            "short",
            stacked=True,
        )
        .with_target(query(f"sum by (kind, severity) ({ACTIVE})", "{{kind}} ({{severity}})"))
    )


def raised() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Early warnings raised per hour",
            "Early warnings raised per hour by kind and severity, all domains (the counter has no domain or queue "
            "label). Frequent raises of one kind point at a standing staffing or configuration problem.",
            "short",
        )
        .with_target(query(
            "sum by (kind, severity) (rate(contact_router_escalations_total[$__rate_interval])) * 3600",
            "{{kind}} ({{severity}})",
        ))
    )
