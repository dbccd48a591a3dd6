"""What-if replays: a recorded stream re-run under a routing policy, compared with what happened."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from contact_router.routing.config import RoutingConfig
from contact_router.sim.offline import OfflineSimulator, recorded_report, with_scoring
from contact_router.sim.scenario import load_scenario
from contact_router.sim.workload import from_recording, read_recording

ROOT = Path(__file__).resolve().parents[2]
KPIS = ("offered", "answered", "abandoned", "expired", "service_level_20s", "asa_seconds")


@pytest.fixture(scope="module")
def recording() -> tuple[list[bytes], dict]:
    scenario = load_scenario(ROOT / "scenarios" / "demo.yaml")
    lines: list[bytes] = []
    report = OfflineSimulator.from_scenario(
        scenario.model_copy(update={"routing": with_scoring(RoutingConfig(), "best_skilled")}), seed=3, record=lines
    ).run()
    return lines, report.as_dict()


def test_replaying_under_the_recorded_policy_reproduces_what_happened(recording) -> None:  # noqa: ANN001
    lines, original = recording
    envelopes = read_recording(lines)
    workload = from_recording(envelopes)
    replayed = OfflineSimulator(workload, with_scoring(RoutingConfig(), "best_skilled")).run().as_dict()
    as_recorded = recorded_report(envelopes, workload).as_dict()
    for kpi in KPIS:
        assert replayed["total"][kpi] == pytest.approx(original["total"][kpi]), kpi
        assert as_recorded["total"][kpi] == pytest.approx(original["total"][kpi]), kpi


def test_a_what_if_under_another_policy_changes_the_outcome_but_not_the_workload(recording) -> None:  # noqa: ANN001
    lines, original = recording
    workload = from_recording(read_recording(lines))
    what_if = OfflineSimulator(workload, with_scoring(RoutingConfig(), "least_occupied")).run().as_dict()
    assert what_if["total"]["offered"] == original["total"]["offered"]
    assert what_if["occupancy"]["stdev"] < original["occupancy"]["stdev"]


def test_recordings_tolerate_noise_and_name_their_domain() -> None:
    good = {"id": "a", "type": "contact.arrived", "time": "2026-01-05T00:00:00Z", "domain": "d1",
            "data": {"contact_id": "c1", "channel": "voice", "queue": "q"}}
    other = good | {"id": "b", "domain": "d2"}
    lines = [orjson.dumps(good), b"not json", b"", orjson.dumps(other)]
    envelopes = read_recording(lines)
    assert len(envelopes) == 2
    with pytest.raises(ValueError, match="several domains"):
        from_recording(envelopes)
    assert [a.event.contact_id for a in from_recording(envelopes, domain="d2").arrivals] == ["c1"]
