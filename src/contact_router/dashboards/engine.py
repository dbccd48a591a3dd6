"""Engine board: is the router keeping up? Throughput, latency, lag, dead letters, workers, dependencies.

No domain/queue filters: the engine's metrics are per worker, not per queue.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, stat, timeseries
from grafana_foundation_sdk.models import dashboard as model

from contact_router.dashboards.common import JOB, board, finish, query, stat_panel, thresholds, timeseries_panel

UID = "contact-router-engine"


def build() -> model.Dashboard:
    return finish(
        board("Contact router / Engine", UID, "Routing workers: throughput, latency, lag, failures and health.",
              time_from="now-1h")
        .with_row(dashboard.Row("Workers"))
        .with_panel(workers_up_and_ready())
        .with_panel(dependencies_up())
        .with_panel(owned_partitions())
        .with_panel(consumer_lag())
        .with_row(dashboard.Row("Throughput and latency"))
        .with_panel(events_per_second())
        .with_panel(events_by_type())
        .with_panel(decision_latency())
        .with_panel(processing_time())
        .with_row(dashboard.Row("Failures and timers"))
        .with_panel(dead_letters())
        .with_panel(timers_fired())
    )


def _quantiles(histogram: str) -> list[tuple[str, str]]:
    return [
        (f"histogram_quantile({q}, sum by (le) (rate({histogram}_bucket[$__rate_interval])))", f"p{round(q * 100)}")
        for q in (0.5, 0.99)
    ]


def workers_up_and_ready() -> stat.Panel:
    return (
        stat_panel(
            "Workers up and ready",
            "Workers Prometheus scrapes, those answering, and those owning input partitions (ready to route). "
            "Ready below up for long means a stuck rebalance; 0 ready means nothing is routed.",
            "short",
        )
        .thresholds(thresholds((None, "red"), (1, "green")))
        .with_target(query(f"count(up{{{JOB}}})", "scraped"))
        .with_target(query(f"sum(up{{{JOB}}})", "up"))
        .with_target(query(f"count(contact_router_assigned_partitions{{{JOB}}} > 0) or vector(0)", "ready"))
    )


def dependencies_up() -> stat.Panel:
    return (
        stat_panel(
            "Dependencies",
            "Whether every worker reached Redis and Kafka at its last check (the worst worker is shown).",
            "bool_yes_no",
        )
        .thresholds(thresholds((None, "red"), (1, "green")))
        .with_target(query(f"min by (dependency) (contact_router_dependency_up{{{JOB}}})", "{{dependency}}"))
    )


def owned_partitions() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Owned input partitions by worker",
            "Input partitions each worker owns. They move on rebalance; a worker at 0 is up but not routing.",
            "short",
        )
        .with_target(query(f"sum by (instance) (contact_router_assigned_partitions{{{JOB}}})", "{{instance}}"))
    )


def consumer_lag() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Consumer lag",
            "Records behind the end of the owned input partitions, by topic. Growing lag means routing decisions "
            "arrive late: contacts wait longer than the gauges say.",
            "short",
        )
        # Max per partition first, as the topic:contact_router_consumer_lag:sum rule: while a partition moves,
        # its old owner's last scrape and its new owner's both still report it.
        .with_target(query(f"sum by (topic) (max by (topic, partition) (contact_router_consumer_lag{{{JOB}}}))",
                           "{{topic}}"))
    )


def events_per_second() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Events per second",
            "Input events processed per second by result: applied, duplicate (redelivered, ignored), rejected, "
            "dead-lettered.",
            "cps",
            stacked=True,
        )
        .with_target(query(
            f"sum by (result) (rate(contact_router_events_total{{{JOB}}}[$__rate_interval]))", "{{result}}"
        ))
    )


def events_by_type() -> timeseries.Panel:
    return (
        timeseries_panel("Events per second by type", "Input events processed per second, by event type.", "cps",
                         stacked=True)
        .with_target(query(
            f"sum by (type) (rate(contact_router_events_total{{{JOB}}}[$__rate_interval]))", "{{type}}"
        ))
    )


def decision_latency() -> timeseries.Panel:
    panel = timeseries_panel(
        "Decision latency",
        "Wall-clock time from an input's event time to its routing decisions being handed to Kafka, "
        "median and 99th percentile. Includes time spent in Kafka before the worker read the input.",
        "s",
    )
    for expr, legend in _quantiles("contact_router_decision_latency_seconds"):
        panel = panel.with_target(query(expr, legend))
    return panel


def processing_time() -> timeseries.Panel:
    panel = timeseries_panel(
        "Processing time",
        "Time a worker takes to process one input record (decode, route, commit state), median and 99th "
        "percentile. Decision latency far above this means the inputs wait in Kafka.",
        "s",
    )
    for expr, legend in _quantiles("contact_router_processing_seconds"):
        panel = panel.with_target(query(expr, legend))
    return panel


def dead_letters() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Dead letters",
            "Inputs per second sent to the dead-letter topic, by reason. Above 0.1/s for 10 minutes fires "
            "ContactRouterDeadLettersRising.",
            "cps",
        )
        .with_target(query(
            f"sum by (reason) (rate(contact_router_dead_letters_total{{{JOB}}}[$__rate_interval]))", "{{reason}}"
        ))
    )


def timers_fired() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Timers fired",
            "timer.fired events per second the workers published for their domains' deadlines (offer timeouts, "
            "ends of wrap-up).",
            "cps",
        )
        .with_target(query(f"sum(rate(contact_router_timers_fired_total{{{JOB}}}[$__rate_interval]))", "timers"))
    )
