"""Notice a consumer that stopped fetching, and have the worker restarted.

faust-streaming has open issues where a worker stays up, heartbeats and answers scrapes, but some or
all of its partitions are no longer fetched: #175 and #523 (consumers die one by one, or after a
broker outage the offsets never advance again), #629 (partitions that never get a fetch request after
a rebalance). Nothing inside the process reliably un-sticks them (a seek does not make the fetcher
send requests it is not sending), so the worker exits with its own code and its supervisor (docker's
restart policy, systemd) starts a fresh one. Exiting without Faust's shutdown is as safe as a
SIGKILL: offsets not committed are redelivered and the store's outbox applies them once (promise 4),
and a wedged Faust could hang in its own shutdown.

A partition counts as stalled when records wait on it (end offset > position) and its position has
not moved for `stall_seconds`, while the route agent was idle waiting for input. An agent busy on one
record (Redis away: the store retries and consumption pauses on purpose) is not a stalled fetcher;
ContactRouterDependencyDown covers that case.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import structlog

from contact_router.metrics import Metrics

EXIT_CONSUMER_STALLED = 75  # EX_TEMPFAIL: a temporary failure, restart me
EXIT_STORE_LOST = 76  # the store's marker vanished: restarted, the worker waits for `contact-router rebuild`
EXIT_PROCESSING_FAILED = 70  # EX_SOFTWARE: a batch failed unexpectedly; its offsets stay uncommitted

K = TypeVar("K", bound=Hashable)

log = structlog.get_logger("contact_router.stream")


@dataclass(frozen=True)
class StallReport(Generic[K]):
    stalled: dict[K, float]  # partition -> seconds without progress while records waited
    restart: bool  # some partition stayed stalled past the grace period: exit so a fresh worker takes over


@dataclass
class _Progress:
    position: int
    since: float  # the first check of the current run of (records waiting, agent idle, position unmoved)
    counting: bool  # False while nothing waits or the agent is busy: no run has begun


@dataclass
class StallDetector(Generic[K]):
    """Pure bookkeeping over (end offsets, positions, now): no I/O, so it is unit-tested alone.

    `restart_after_seconds` is a grace between exposing the stall and exiting, long enough for
    Prometheus to scrape the stalled gauge at least once (5 s scrapes in deploy/prometheus)."""

    stall_seconds: float
    restart_after_seconds: float
    _progress: dict[K, _Progress] = field(default_factory=dict)

    def update(self, now: float, ends: Mapping[K, int], positions: Mapping[K, int], busy: bool) -> StallReport[K]:
        """One health check: `ends` the partitions' end offsets, `positions` the next offset the
        worker will process on each, `busy` whether the agent is inside an event right now."""
        for gone in set(self._progress) - set(positions):
            del self._progress[gone]  # revoked: another worker owns it now
        stalled: dict[K, float] = {}
        for key, position in positions.items():
            seen = self._progress.get(key)
            waiting = ends.get(key, position) > position
            if not waiting or busy:
                self._progress[key] = _Progress(position, now, counting=False)
                continue
            if seen is None or seen.position != position or not seen.counting:
                self._progress[key] = _Progress(position, now, counting=True)
                continue
            if now - seen.since >= self.stall_seconds:
                stalled[key] = now - seen.since
        restart = any(s >= self.stall_seconds + self.restart_after_seconds for s in stalled.values())
        return StallReport(stalled, restart)

    def forget(self) -> None:
        """Partitions moved: start every clock again."""
        self._progress.clear()


class ConsumerWatch:
    """The worker's side of the check: feeds the detector, sets the stalled gauge, logs, and exits
    with EXIT_CONSUMER_STALLED once a stall outlasts the grace."""

    def __init__(self, metrics: Metrics, stall_seconds: float, restart_after_seconds: float) -> None:
        self._metrics = metrics
        self.detector: StallDetector[Any] = StallDetector(stall_seconds, restart_after_seconds)

    def check(self, now: float, ends: Mapping[Any, int], positions: Mapping[Any, int], busy: bool) -> None:
        report = self.detector.update(now, ends, positions, busy)
        self._metrics.consumer_stalled.clear()
        for tp in positions:
            self._metrics.consumer_stalled.labels(tp.topic, str(tp.partition)).set(1 if tp in report.stalled else 0)
        if report.stalled:
            log.error(
                "consumer stalled: records wait but the partitions are not fetched",
                partitions=sorted(f"{tp.topic}:{tp.partition}" for tp in report.stalled),
                seconds=round(max(report.stalled.values()), 1),
            )
        if report.restart:
            log.error("exiting so the supervisor starts a fresh worker", exit_code=EXIT_CONSUMER_STALLED)
            os._exit(EXIT_CONSUMER_STALLED)
