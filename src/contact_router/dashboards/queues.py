"""Queues board: is each queue meeting its service level, and if not, is it demand or staffing?"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, timeseries
from grafana_foundation_sdk.models import dashboard as model

from contact_router.dashboards.common import (
    DOMAIN_QUEUE,
    KPI_WINDOW,
    QUEUE,
    SLOW_KPI_WINDOW,
    board,
    domain_variable,
    finish,
    query,
    queue_variable,
    threshold_lines,
    thresholds,
    timeseries_panel,
)

UID = "contact-router-queues"
BY_QUEUE = "{{domain}} / {{queue}}"


def build() -> model.Dashboard:
    return finish(
        board("Contact router / Queues", UID, "Service level, waiting contacts, demand and staffing per queue.")
        .with_variable(domain_variable())
        .with_variable(queue_variable())
        .with_row(dashboard.Row("Service level"))
        .with_panel(service_level_vs_target())
        .with_panel(service_level_rolling())
        .with_row(dashboard.Row("Waiting"))
        .with_panel(waiting_contacts())
        .with_panel(oldest_wait())
        .with_panel(average_speed_of_answer())
        .with_panel(abandonment())
        .with_panel(offers_pending())
        .with_panel(why_contacts_waited())
        .with_row(dashboard.Row("Demand and staffing"))
        .with_panel(arrivals_vs_forecast())
        .with_panel(staffed_vs_required())
        .with_panel(arrivals_and_answers())
        .with_row(dashboard.Row("Outcomes"))
        .with_panel(outcomes())
        .with_panel(transfers_and_callbacks())
        .with_panel(first_contact_resolution())
        .with_panel(repeat_contacts())
        .with_panel(average_handle_time())
        .with_panel(csat())
    )


def service_level_vs_target() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Service level vs target",
            "Share of this half hour's contacts answered within the queue's threshold (answered + abandoned in the "
            "denominator), the queue's target, and the level projected for the end of the half hour. "
            "Resets every half hour.",
            "percentunit",
        )
        .min(0)
        .max(1)
        .with_target(query(f"max by (domain, queue) (contact_router_service_level_ratio{{{DOMAIN_QUEUE}}})",
                           f"{BY_QUEUE} now"))
        .with_target(query(f"max by (domain, queue) (contact_router_service_level_projected_ratio{{{DOMAIN_QUEUE}}})",
                           f"{BY_QUEUE} projected"))
        .with_target(query(f"max by (domain, queue) (contact_router_service_level_target_ratio{{{DOMAIN_QUEUE}}})",
                           f"{BY_QUEUE} target"))
    )


def service_level_rolling() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Service level, last 15 minutes",
            "Contacts answered within the queue's threshold over answered + abandoned, in a sliding 15-minute "
            "window: smoother than the half-hour figure and comparable across half-hour boundaries.",
            "percentunit",
        )
        .min(0)
        .max(1)
        .with_target(query(
            f"sum by (queue) (increase(contact_router_service_level_met_total{{{QUEUE}}}[{KPI_WINDOW}]))"
            f" / sum by (queue) (increase(contact_router_service_level_offered_total{{{QUEUE}}}[{KPI_WINDOW}]))",
            "{{queue}}",
        ))
    )


def waiting_contacts() -> timeseries.Panel:
    return (
        timeseries_panel("Contacts waiting", "Contacts waiting for an agent now, by queue (all channels).", "short")
        .with_target(query(f"sum by (domain, queue) (contact_router_waiting_contacts{{{DOMAIN_QUEUE}}})", BY_QUEUE))
    )


def oldest_wait() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Oldest wait",
            "How long the longest-waiting contact of each queue has waited. Lines at 2 and 10 minutes are the "
            "ContactRouterContactWaitingLong / TooLong alert thresholds.",
            "s",
        )
        .thresholds(thresholds((None, "green"), (120, "orange"), (600, "red")))
        .thresholds_style(threshold_lines())
        .with_target(query(f"max by (domain, queue) (contact_router_oldest_wait_seconds{{{DOMAIN_QUEUE}}})", BY_QUEUE))
    )


def average_speed_of_answer() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Average speed of answer",
            "Mean wait from arrival to assignment of the contacts answered in the last 15 minutes (ASA).",
            "s",
        )
        .with_target(query(
            f"sum by (queue) (rate(contact_router_answer_wait_seconds_sum{{{QUEUE}}}[{KPI_WINDOW}]))"
            f" / sum by (queue) (rate(contact_router_answer_wait_seconds_count{{{QUEUE}}}[{KPI_WINDOW}]))",
            "{{queue}}",
        ))
    )


def abandonment() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Abandonment",
            "Share of the waits that ended in the last 15 minutes without an answer (hung up while waiting or "
            "ringing, or expired), out of those answered or abandoned: the service level's denominator "
            "(the ContactRouterAbandonmentHigh alert fires above 10%).",
            "percentunit",
        )
        .min(0)
        .with_target(query(
            f"sum by (queue) (increase(contact_router_contacts_abandoned_total{{{QUEUE}}}[{KPI_WINDOW}]))"
            f" / sum by (queue) (increase(contact_router_service_level_offered_total{{{QUEUE}}}[{KPI_WINDOW}]))",
            "{{queue}}",
        ))
    )


def offers_pending() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Offers pending",
            "Contacts offered to an agent and not yet accepted. A lasting high number means agents miss offers.",
            "short",
        )
        .with_target(query(f"sum by (domain, queue) (contact_router_offers_pending{{{DOMAIN_QUEUE}}})", BY_QUEUE))
    )


def why_contacts_waited() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Why contacts waited",
            "Contacts per minute that could not be assigned on arrival, by the router's reason.",
            "cpm",
            stacked=True,
        )
        .with_target(query(
            f"sum by (reason) (rate(contact_router_contacts_queued_total{{{QUEUE}}}[$__rate_interval])) * 60",
            "{{reason}}",
        ))
    )


def arrivals_vs_forecast() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Arrivals vs forecast",
            "Contacts arrived so far in the current half hour (rises, then resets) against the forecast for the "
            "whole half hour. Arrivals crossing the forecast early mean the half hour is busier than planned.",
            "short",
        )
        .with_target(query(f"max by (domain, queue) (contact_router_arrivals_current{{{DOMAIN_QUEUE}}})",
                           f"{BY_QUEUE} arrived"))
        .with_target(query(f"max by (domain, queue) (contact_router_arrivals_forecast{{{DOMAIN_QUEUE}}})",
                           f"{BY_QUEUE} forecast"))
    )


def staffed_vs_required() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Staffed vs recommended agents",
            "Logged-in agents able to serve the queue against the number Erlang C / Erlang A recommend for the "
            "current half hour's forecast and the queue's service-level target.",
            "short",
        )
        .with_target(query(f"max by (domain, queue) (contact_router_agents_staffed{{{DOMAIN_QUEUE}}})",
                           f"{BY_QUEUE} staffed"))
        .with_target(query(f"max by (domain, queue, model) (contact_router_agents_required{{{DOMAIN_QUEUE}}})",
                           f"{BY_QUEUE} required ({{{{model}}}})"))
    )


def arrivals_and_answers() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Arrivals and answers per minute",
            "Contacts arriving and contacts answered (an offer accepted, or an assignment where offers need no "
            "answer), per minute. Offers that ring out are not answers. Arrivals above answers for long means the "
            "queue is growing.",
            "cpm",
        )
        .with_target(query(
            f"sum by (queue) (rate(contact_router_contacts_arrived_total{{{QUEUE}}}[$__rate_interval])) * 60",
            "{{queue}} arrived",
        ))
        .with_target(query(
            # Not contacts_assigned: it counts every offer, so a re-offered contact would be answered twice.
            f"sum by (queue) (rate(contact_router_answer_wait_seconds_count{{{QUEUE}}}[$__rate_interval])) * 60",
            "{{queue}} answered",
        ))
    )


def outcomes() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Contacts finished, by outcome",
            "Contacts per minute reaching a terminal outcome: completed, abandoned while waiting, or expired.",
            "cpm",
            stacked=True,
        )
        .with_target(query(
            f"sum by (outcome) (rate(contact_router_contacts_closed_total{{{QUEUE}}}[$__rate_interval])) * 60",
            "{{outcome}}",
        ))
    )


def transfers_and_callbacks() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Transfers and callbacks",
            "Contacts per minute transferred out of the queue, and callbacks requested instead of waiting.",
            "cpm",
        )
        .with_target(query(
            f"sum by (queue) (rate(contact_router_contacts_transferred_total{{{QUEUE}}}[$__rate_interval])) * 60",
            "{{queue}} transferred",
        ))
        .with_target(query(
            f"sum by (queue) (rate(contact_router_callbacks_requested_total{{{QUEUE}}}[$__rate_interval])) * 60",
            "{{queue}} callback requested",
        ))
    )


def first_contact_resolution() -> timeseries.Panel:
    return (
        timeseries_panel(
            "First contact resolution",
            "Share of the contacts completed in the last hour that ended resolved, without a transfer, and were "
            "not a repeat of an earlier contact.",
            "percentunit",
        )
        .min(0)
        .max(1)
        .with_target(query(
            f"sum by (queue) (increase(contact_router_first_contact_resolutions_total{{{QUEUE}}}[{SLOW_KPI_WINDOW}]))"
            f' / sum by (queue) (increase(contact_router_contacts_closed_total{{{QUEUE}, outcome="completed"}}'
            f"[{SLOW_KPI_WINDOW}]))",
            "{{queue}}",
        ))
    )


def repeat_contacts() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Repeat contacts",
            "Contacts in the last hour from customers who had already contacted us within 24 hours / 7 days.",
            "short",
        )
        .with_target(query(
            f"sum by (queue, window) (increase(contact_router_repeat_contacts_total{{{QUEUE}}}[{SLOW_KPI_WINDOW}]))",
            "{{queue}} within {{window}}",
        ))
    )


def average_handle_time() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Average handle time",
            "Talk + hold + wrap-up per contact handled in the last hour, by queue (AHT).",
            "s",
        )
        .with_target(query(
            f"sum by (queue) (rate(contact_router_handle_seconds_sum{{{QUEUE}}}[{SLOW_KPI_WINDOW}]))"
            f" / sum by (queue) (rate(contact_router_handle_seconds_count{{{QUEUE}}}[{SLOW_KPI_WINDOW}]))",
            "{{queue}}",
        ))
    )


def csat() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Customer satisfaction",
            "Mean CSAT score (1 to 5) of the ratings given in the last hour, by queue.",
            "none",
        )
        .min(1)
        .max(5)
        .with_target(query(
            f"sum by (queue) (rate(contact_router_csat_score_sum{{{QUEUE}}}[{SLOW_KPI_WINDOW}]))"
            f" / sum by (queue) (rate(contact_router_csat_score_count{{{QUEUE}}}[{SLOW_KPI_WINDOW}]))",
            "{{queue}}",
        ))
    )
