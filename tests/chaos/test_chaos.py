"""The chaos run at CI size: a few thousand contacts through two workers while one worker is
SIGKILLed, a third joins and later leaves, the broker restarts and Redis restarts (append-only file,
fsync every second). Then the checker reads the topics and the store: every contact has a terminal
outcome, no agent was ever over capacity, no two decisions conflict. The full size is
`contact-router bench chaos` (docs/chaos.md).

It starts its own broker and redis-server on 127.0.0.2:39110-39112 (never the shared ones, which
it would have to restart) and workers with metrics on 19900-19902.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchmarks.chaos import ChaosConfig, render, run

pytestmark = [pytest.mark.chaos, pytest.mark.slow]


@pytest.mark.timeout(600)
def test_promises_hold_through_a_kill_a_join_and_leave_and_restarts_of_broker_and_redis(tmp_path: Path) -> None:
    config = ChaosConfig(
        contacts=2500, rate=15.0, workers=2, kills=1, broker_restarts=1, redis_restarts=1, join_leave=True, domains=6
    )
    result = run(config, tmp_path, summary=None)
    print(render(result))
    p = result.promises

    # Every fault happened, the kill at >= 20% progress, and the run routed through all of it.
    assert [f.kind for f in result.faults if f.done] == ["kill", "join", "broker", "leave", "redis"]
    assert all(f.progress >= 0.2 for f in result.faults)
    assert p.arrived >= 0.9 * config.contacts and p.assignments >= 0.5 * p.arrived
    # Promise 1: every arrived contact has exactly one terminal outcome; none is left open.
    assert (p.without_outcome, p.still_open, p.lost, p.closed_twice) == (0, 0, 0, 0), p.examples
    assert sum(p.closed.values()) == p.arrived
    # Promise 2: no agent over capacity, in the replayed decisions or in the store; no double booking
    # while a worker joined and left.
    assert (p.over_capacity, p.over_capacity_in_store, p.overlapping) == (0, 0, 0), p.examples
    # Promise 4: re-emitted decisions carry their first id and content.
    assert p.conflicting == 0, p.examples
    # The gaps are measured for every fault, and routing resumed after each (decisions kept coming).
    assert len(result.gaps) == 5 and all(math.isfinite(g.overall) and g.worst_partition > 0 for g in result.gaps)
    assert result.ok
