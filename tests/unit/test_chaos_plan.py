"""The chaos run's pure parts: where the faults go, how processing gaps are measured, how the
scenario is sized."""

from __future__ import annotations

import math

import pytest

from benchmarks.chaos import SCENARIO, Fault, plan_faults, planned_contacts, processing_gaps, sized
from contact_router.sim.scenario import load_scenario


def test_the_full_plan_kills_three_times_after_20_percent_and_restarts_each_server_once() -> None:
    faults = plan_faults(kills=3, broker=1, redis=1, join_leave=True)
    kinds = [f.kind for f in faults]
    assert sorted(kinds) == sorted(["kill", "kill", "kill", "broker", "redis", "join", "leave"])
    assert kinds.index("join") < kinds.index("leave")
    progress = [f.at_progress for f in faults]
    assert progress == sorted(progress) and progress[0] >= 0.2 and progress[-1] <= 0.9
    # Two kills never follow each other: each restarted worker has settled before the next kill.
    assert all(not (a == b == "kill") for a, b in zip(kinds, kinds[1:], strict=False))


def test_the_small_plan_has_a_fault_between_join_and_leave() -> None:
    kinds = [f.kind for f in plan_faults(kills=1, broker=1, redis=1, join_leave=True)]
    assert kinds.count("kill") == 1 and kinds.index("leave") - kinds.index("join") >= 2


def fault(kind: str, started: float) -> Fault:
    return Fault(kind, 0.5, started=started, back=started + 1)


def test_gaps_are_measured_from_each_fault_to_the_next_on_all_partitions_and_the_worst() -> None:
    # Partition 0 publishes every second throughout; partition 1 stops from 10 s to 25 s.
    decisions = [(float(t), 0) for t in range(0, 60)] + [(float(t), 1) for t in range(0, 60) if not 10 < t < 25]
    decisions[5] = (5.5, 0)  # partition 0's own stretch before the fault: 0.5 s and 1.5 s gaps
    gaps, quiet = processing_gaps(decisions, [fault("kill", 10.0), fault("redis", 40.0)], end=60.0)
    kill, redis = gaps
    assert (kill.kind, kill.at, kill.overall) == ("kill", 10.0, 1.0)
    assert (kill.worst_partition, kill.partition) == (15.0, 1)
    assert redis.worst_partition == 1.0
    assert quiet.kind == "before any fault" and quiet.worst_partition == 1.5 and quiet.at == 0.0


def test_a_gap_reaching_the_end_of_the_window_counts() -> None:
    gaps, _ = processing_gaps([(0.0, 0), (1.0, 0), (2.0, 0)], [fault("broker", 1.5)], end=30.0)
    assert gaps[0].overall == pytest.approx(28.0)


def test_faults_that_never_happened_are_left_out() -> None:
    gaps, quiet = processing_gaps([(0.0, 0), (5.0, 0)], [Fault("kill", 0.2, started=math.nan)], end=5.0)
    assert gaps == [] and quiet.overall == 5.0


def test_the_scenario_is_sized_to_the_contacts_and_rate_asked() -> None:
    scenario, speed = sized(load_scenario(SCENARIO), contacts=3000, rate=15.0)
    planned = planned_contacts(scenario, seed=7)
    assert 0.9 * 3000 < planned < 1.1 * 3000
    per_hour = sum(q.arrivals_per_hour for q in scenario.queues) * len(scenario.domains)
    assert speed * per_hour / 3600 == pytest.approx(15.0)


def test_scenarios_with_a_shape_over_the_day_are_refused() -> None:
    shaped = load_scenario(SCENARIO).model_copy(update={"half_hour_profile": [1.0, 2.0]})
    with pytest.raises(ValueError, match="plain scenarios"):
        sized(shaped, 1000, 10.0)


def test_a_run_with_more_workers_than_partitions_is_refused_before_anything_starts(tmp_path) -> None:  # noqa: ANN001
    from benchmarks.chaos import ChaosConfig, run

    with pytest.raises(ValueError, match="more workers than partitions"):
        run(ChaosConfig(workers=6, partitions=6, join_leave=True), tmp_path / "run")
    assert not (tmp_path / "run").exists()
