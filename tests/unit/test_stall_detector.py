"""The stalled-consumer check as pure logic: (end offsets, positions, now, busy) in, stalls out."""

from __future__ import annotations

from contact_router.stream.health import StallDetector

P0, P1 = ("contact-events", 0), ("contact-events", 1)


def detector() -> StallDetector[tuple[str, int]]:
    return StallDetector(stall_seconds=30, restart_after_seconds=10)


def test_records_waiting_and_no_progress_for_the_stall_time_is_a_stall() -> None:
    d = detector()
    assert d.update(0, {P0: 10}, {P0: 5}, busy=False).stalled == {}
    assert d.update(29, {P0: 12}, {P0: 5}, busy=False).stalled == {}
    report = d.update(30, {P0: 14}, {P0: 5}, busy=False)
    assert report.stalled == {P0: 30} and not report.restart


def test_restart_comes_only_after_the_grace_so_the_stall_is_scraped_first() -> None:
    d = detector()
    d.update(0, {P0: 10}, {P0: 5}, busy=False)
    assert not d.update(39, {P0: 10}, {P0: 5}, busy=False).restart
    assert d.update(40, {P0: 10}, {P0: 5}, busy=False).restart


def test_progress_restarts_the_clock() -> None:
    d = detector()
    d.update(0, {P0: 10}, {P0: 5}, busy=False)
    d.update(20, {P0: 10}, {P0: 6}, busy=False)  # one record processed
    assert d.update(45, {P0: 10}, {P0: 6}, busy=False).stalled == {}
    assert d.update(50, {P0: 10}, {P0: 6}, busy=False).stalled == {P0: 30}


def test_nothing_to_read_is_not_a_stall_however_long() -> None:
    d = detector()
    for now in range(0, 300, 5):
        assert d.update(now, {P0: 5}, {P0: 5}, busy=False).stalled == {}


def test_new_records_after_an_idle_time_start_the_clock_at_their_arrival() -> None:
    d = detector()
    d.update(0, {P0: 5}, {P0: 5}, busy=False)
    d.update(100, {P0: 6}, {P0: 5}, busy=False)  # a record arrives; none waited before
    assert d.update(120, {P0: 6}, {P0: 5}, busy=False).stalled == {}
    assert d.update(130, {P0: 6}, {P0: 5}, busy=False).stalled == {P0: 30}


def test_an_agent_busy_on_one_event_is_not_a_stalled_fetcher() -> None:
    """Redis away: the store retries and consumption pauses on purpose, with records waiting."""
    d = detector()
    for now in range(0, 120, 5):
        assert d.update(now, {P0: 10 + now}, {P0: 5}, busy=True).stalled == {}
    # Once the agent is idle again with records still waiting, the stall clock starts from there.
    assert d.update(120, {P0: 200}, {P0: 5}, busy=False).stalled == {}
    assert d.update(150, {P0: 200}, {P0: 5}, busy=False).stalled == {P0: 30}


def test_only_the_stuck_partition_is_reported() -> None:
    d = detector()
    d.update(0, {P0: 10, P1: 10}, {P0: 5, P1: 5}, busy=False)
    report = d.update(30, {P0: 10, P1: 12}, {P0: 5, P1: 9}, busy=False)
    assert report.stalled == {P0: 30}


def test_revoked_partitions_are_forgotten_and_start_fresh_when_they_come_back() -> None:
    d = detector()
    d.update(0, {P0: 10}, {P0: 5}, busy=False)
    d.update(20, {P1: 3}, {P1: 3}, busy=False)  # P0 moved to another worker
    d.update(25, {P0: 10}, {P0: 5}, busy=False)  # and back
    assert d.update(50, {P0: 10}, {P0: 5}, busy=False).stalled == {}
    assert d.update(55, {P0: 10}, {P0: 5}, busy=False).stalled == {P0: 30}


def test_forget_starts_every_clock_again() -> None:
    d = detector()
    d.update(0, {P0: 10}, {P0: 5}, busy=False)
    d.forget()
    assert d.update(30, {P0: 10}, {P0: 5}, busy=False).stalled == {}
