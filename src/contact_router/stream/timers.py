"""Timers of the domains a worker owns: fired as `timer.fired` inputs on the domain's partition.

A fired timer travels through Kafka like any input, so it is ordered with the domain's other events,
applied once (its id is derived from the domain and the deadline) and replayable. Deadlines come from
processed events, and from the store's index when partitions are assigned (after a restart).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from datetime import UTC, datetime

from aiokafka.partitioner import murmur2

from contact_router.contract import Envelope
from contact_router.contract.envelope import SCHEMA_VERSION

SOURCE = "contact-router-timer"


def partition_of(domain: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as Faust's producer uses) gives a key."""
    return (murmur2(domain.encode()) & 0x7FFFFFFF) % partitions


def timer_event(domain: str, deadline: float, fired_at: float | None = None) -> Envelope:
    """The same deadline always gives the same id: timers fired twice are applied once. The event's
    time is when it fired, if later than the deadline: applying it handles everything due by then,
    so a worker that fell behind catches up in one event. (Timed at the deadline, a late timer
    handled only what was due by the deadline, and the next one came a round trip later: in a
    100,000-contact chaos run the timers of busy domains fell 6 minutes behind and never caught up.)"""
    return Envelope(
        id=f"timer:{domain}:{deadline:.3f}",
        type="timer.fired",
        time=datetime.fromtimestamp(max(deadline, fired_at if fired_at is not None else deadline), tz=UTC),
        domain=domain,
        source=SOURCE,
        schema_version=SCHEMA_VERSION,
        data={},
    )


class TimerScheduler:
    """The next deadline per domain, and which are due. One deadline per domain is enough: applying
    a timer.fired handles everything due and tells the next one.

    A fired deadline is remembered until the domain's deadline changes: the domain's next events,
    processed before the timer.fired comes back through Kafka, still report it as the next one, and
    firing it again at once would publish a duplicate whose outputs are re-emitted. Reported again,
    it is re-armed for `retry_seconds` after it fired instead: the retry of a timer.fired that was
    lost (sent but never consumed), which only a deadline that did not move can tell.

    Only by an event written `retry_seconds` or more after the timer fired, when the reporting
    record's time is known: one written earlier is ahead of the timer.fired in the log, so the
    timer is still on its way, however long the worker takes to get there. (Without that, a worker
    more than `retry_seconds` behind fired every pending timer again every `retry_seconds`; each
    duplicate cost its domain a reload from Redis, and in a soak at 990 events/s the worker fell
    further behind the more it lagged.)

    A timer.fired the producer gave up on (`undelivered`) is fired again `retry_seconds` later
    without waiting for the domain's next event, which an idle domain may never send.
    """

    def __init__(self, retry_seconds: float = 5.0) -> None:
        self._retry = retry_seconds
        self._armed: dict[str, tuple[float, float]] = {}  # domain -> (deadline, when it fires)
        self._fired: dict[str, tuple[float, float]] = {}  # domain -> (deadline, when it last fired)
        self._heap: list[tuple[float, str, float]] = []  # (when it fires, domain, deadline); stale entries skipped

    def set(self, domain: str, deadline: float | None, written_at: float | None = None) -> None:
        """The domain's next deadline as its last applied event reports it (None: it needs none);
        `written_at` is that event's record time in Kafka, when known."""
        if deadline is None:
            self._armed.pop(domain, None)
            self._fired.pop(domain, None)
            return
        self._arm(domain, deadline, written_at)

    def due(self, now: float) -> list[tuple[str, float]]:
        """Deadlines whose firing time `now` has reached, each once, remembered as fired at `now`."""
        fired = []
        while self._heap and self._heap[0][0] <= now:
            at, domain, deadline = heapq.heappop(self._heap)
            if self._armed.get(domain) == (deadline, at):
                del self._armed[domain]
                self._fired[domain] = (deadline, now)
                fired.append((domain, deadline))
        return fired

    def undelivered(self, domain: str, deadline: float, now: float) -> None:
        """The producer gave up on this deadline's timer.fired: it will never come back through
        Kafka, and a domain that gets no other event would never report the deadline again. Fire it
        again `retry_seconds` from now, unless the domain's deadline has moved since."""
        fired = self._fired.get(domain)
        if fired is None or fired[0] != deadline or domain in self._armed:
            return
        del self._fired[domain]
        at = now + self._retry
        self._armed[domain] = (deadline, at)
        heapq.heappush(self._heap, (at, domain, deadline))

    def replace(self, deadlines: Iterable[tuple[str, float]]) -> None:
        """Arm exactly these deadlines (those of the domains now owned, e.g. from the store's index
        on assignment). One this scheduler fired already is re-armed for its retry time, as in
        `set`; what is remembered of other domains, or of other deadlines, is forgotten."""
        given = dict(deadlines)
        self._fired = {d: f for d, f in self._fired.items() if given.get(d) == f[0]}
        self._armed.clear()
        self._heap.clear()
        for domain, deadline in given.items():
            self._arm(domain, deadline)

    def disarm(self) -> None:
        """Fire nothing until the next `replace` (partitions revoked), but remember what was fired:
        if the same worker gets the domain back, its in-flight timer.fired is not fired again at once."""
        self._armed.clear()
        self._heap.clear()

    def _arm(self, domain: str, deadline: float, written_at: float | None = None) -> None:
        fired = self._fired.get(domain)
        if fired is not None and fired[0] != deadline:
            del self._fired[domain]  # the deadline moved: the one fired was applied (or is moot)
            fired = None
        if fired is not None and written_at is not None and written_at < fired[1] + self._retry:
            return  # written before the timer.fired could be back in front of it: still on its way
        at = deadline if fired is None else max(deadline, fired[1] + self._retry)
        if self._armed.get(domain) != (deadline, at):
            self._armed[domain] = (deadline, at)
            heapq.heappush(self._heap, (at, domain, deadline))

    def __len__(self) -> int:
        return len(self._armed)
