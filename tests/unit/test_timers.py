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


def test_a_fired_deadline_still_reported_is_fired_again_only_after_the_retry_interval() -> None:
    s = TimerScheduler(retry_seconds=5.0)
    s.set("a", 10.0)
    assert s.due(10.2) == [("a", 10.0)]
    # The domain's next event, applied before the timer.fired comes back, reports the same deadline.
    s.set("a", 10.0)
    s.set("a", 10.0)
    assert s.due(10.4) == [] and s.due(15.1) == []
    # The timer.fired was lost: the deadline is retried once the interval has passed since it fired.
    assert s.due(15.2) == [("a", 10.0)]
    s.set("a", 10.0)
    assert s.due(20.1) == [] and s.due(20.2) == [("a", 10.0)]


def test_a_fired_deadline_is_forgotten_when_the_domain_reports_another() -> None:
    s = TimerScheduler(retry_seconds=5.0)
    s.set("a", 10.0)
    assert s.due(10.0) == [("a", 10.0)]
    s.set("a", 10.0)  # armed for the retry at 15.0
    s.set("a", 12.0)  # the timer.fired was applied: the next deadline fires on time, the retry not at all
    assert s.due(12.0) == [("a", 12.0)] and s.due(100.0) == []
    s.set("a", 12.0)
    s.set("a", None)  # nothing due any more: nothing is retried
    s.set("a", 12.0)  # the same deadline again after that is a new one: at once
    assert s.due(12.5) == [("a", 12.0)]


def test_a_fired_deadline_reported_late_fires_at_once_if_the_interval_has_passed() -> None:
    s = TimerScheduler(retry_seconds=5.0)
    s.set("a", 10.0)
    assert s.due(10.0) == [("a", 10.0)]
    s.set("a", 10.0)  # the first event after a long quiet spell: the timer.fired was lost
    assert s.due(30.0) == [("a", 10.0)]


def test_reassigned_deadlines_fired_before_a_revoke_wait_for_their_retry_and_others_fire() -> None:
    s = TimerScheduler(retry_seconds=5.0)
    s.set("a", 10.0)
    s.set("b", 10.0)
    s.set("c", 10.0)
    assert s.due(10.0) == [("a", 10.0), ("b", 10.0), ("c", 10.0)]
    s.set("d", 11.0)
    s.disarm()  # partitions revoked: nothing fires until they are assigned again
    assert s.due(11.0) == [] and len(s) == 0
    # Assigned again, from the store's index: "a" still at the deadline fired (its timer.fired is
    # in flight), "b" moved on, "c" went to another worker, "d" was never fired.
    s.replace([("a", 10.0), ("b", 13.0), ("d", 11.0)])
    assert s.due(13.0) == [("d", 11.0), ("b", 13.0)]
    assert s.due(15.0) == [("a", 10.0)]
    s.replace([("c", 10.0)])  # "c" comes back later: nothing is remembered of it, it fires at once
    assert s.due(15.0) == [("c", 10.0)]


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


def test_a_worker_behind_does_not_fire_again_what_is_still_on_its_way() -> None:
    s = TimerScheduler(retry_seconds=5.0)
    s.set("a", 10.0, written_at=9.0)
    assert s.due(10.0) == [("a", 10.0)]
    # A minute behind: events written before the timer.fired (or during its trip) keep reporting the
    # deadline. The timer.fired is behind them in the log, not lost: nothing is fired again.
    for now, written_at in ((20.0, 9.5), (40.0, 12.0), (70.0, 14.9)):
        s.set("a", 10.0, written_at=written_at)
        assert s.due(now) == []
    # Caught up: an event written well after the timer fired still reports its deadline, so the
    # timer.fired was read before it and lost on the way. It is fired again at once.
    s.set("a", 10.0, written_at=15.0)
    assert s.due(70.0) == [("a", 10.0)]


def test_a_timer_on_its_way_lets_a_moved_deadline_fire_on_time() -> None:
    s = TimerScheduler(retry_seconds=5.0)
    s.set("a", 10.0, written_at=9.0)
    assert s.due(10.0) == [("a", 10.0)]
    s.set("a", 10.0, written_at=9.9)  # still on its way
    s.set("a", 12.0, written_at=10.5)  # the timer.fired was applied: the next deadline is armed
    assert s.due(12.0) == [("a", 12.0)]


def test_a_timer_fired_the_producer_gave_up_on_is_fired_again_after_the_retry_interval() -> None:
    s = TimerScheduler(retry_seconds=5.0)
    s.set("a", 10.0)
    s.set("b", 10.0)
    assert s.due(10.0) == [("a", 10.0), ("b", 10.0)]
    # No event comes for either domain again (idle); a's timer.fired was never delivered.
    s.undelivered("a", 10.0, now=40.0)
    assert s.due(44.9) == [] and s.due(45.0) == [("a", 10.0)]
    assert s.due(1000.0) == []  # b's was delivered: nothing else fires


def test_an_undelivered_timer_is_not_retried_once_its_domain_moved_on() -> None:
    s = TimerScheduler(retry_seconds=5.0)
    s.set("a", 10.0)
    assert s.due(10.0) == [("a", 10.0)]
    s.set("a", 12.0)  # another event already reported a later deadline: it will handle 10.0 too
    s.undelivered("a", 10.0, now=10.5)
    assert s.due(12.0) == [("a", 12.0)] and s.due(100.0) == []
    s.undelivered("b", 3.0, now=10.5)  # never fired here (e.g. another worker's): ignored
    assert s.due(100.0) == []
