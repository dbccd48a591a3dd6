"""The worker's timer bookkeeping: due deadlines fire once, and domains map to Kafka's partitions."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from contact_router.contract import decode_envelope, parse_input
from contact_router.contract.events import TimerFired
from contact_router.stream.timers import TimerScheduler, partition_of, timer_event


def test_due_deadlines_fire_once_and_only_the_latest_per_domain() -> None:
    s = TimerScheduler()
    s.set("a", 10.0)
    s.set("b", 5.0)
    s.set("a", 20.0)  # replaced: 10.0 must not fire
    assert s.due(4.9) == []
    assert s.due(15.0) == [("b", 5.0)]
    assert s.due(15.0) == []
    s.set("c", 12.0)
    s.set("c", None)
    assert s.due(100.0) == [("a", 20.0)] and len(s) == 0


def test_replace_keeps_only_the_given_deadlines() -> None:
    s = TimerScheduler()
    s.set("old", 1.0)
    s.replace([("x", 2.0), ("y", 3.0)])
    assert s.due(10.0) == [("x", 2.0), ("y", 3.0)]


def test_partition_of_matches_the_producers_default_partitioner() -> None:
    for domain in ["bank", "site-1", "demo-bank-3f2a", "ü-domain"]:
        for n in (1, 3, 6, 12):
            assert partition_of(domain, n) == DefaultPartitioner()(domain.encode(), list(range(n)), list(range(n)))


def test_timer_events_are_valid_inputs_with_ids_derived_from_the_deadline() -> None:
    first, again = timer_event("bank", 1795424405.25), timer_event("bank", 1795424405.25)
    assert first.id == again.id == "timer:bank:1795424405.250"
    decoded = decode_envelope(first.to_bytes())
    assert isinstance(parse_input(decoded), TimerFired) and decoded.timestamp == 1795424405.25


def test_a_late_timer_is_timed_when_it_fired_so_it_handles_everything_due_by_then() -> None:
    late = timer_event("bank", 1795424405.25, fired_at=1795424465.0)
    assert late.id == "timer:bank:1795424405.250"  # still one id per deadline: fired twice, applied once
    assert late.timestamp == 1795424465.0
    assert timer_event("bank", 1795424405.25, fired_at=1795424400.0).timestamp == 1795424405.25  # never early
