"""The judge of the early warnings: recall, precision and lead time by the stated definitions."""

from __future__ import annotations

import math
import sys
from datetime import date
from pathlib import Path

import pytest

from contact_router.contract.events import EscalationAlert, EscalationSubject
from contact_router.routing.config import RoutingConfig
from contact_router.sim.offline import EPOCH, Wait
from contact_router.sim.scenario import load_scenario
from contact_router.sim.warning_quality import contact_quality, lasting_quality, queue_quality, surges

CONFIG = RoutingConfig.model_validate({"default": {"service_level_seconds": 20, "alerts": {"min_offered": 2}}})
assert EPOCH % 1800 == 0  # simulated half hours start at multiples of 1800 s


def alert(kind: str, subject: str, status: str = "firing", subject_kind: str = "queue") -> EscalationAlert:
    return EscalationAlert(
        alert_id=f"{kind}:{subject}", kind=kind, severity="warning",
        subject=EscalationSubject(kind=subject_kind, id=subject, queue="q"), status=status,
    )  # fmt: skip


def waits(start: float, answered_in_time: int, late: int) -> list[Wait]:
    ok = [Wait(f"ok{start}-{i}", "q", start, start + 10, True) for i in range(answered_in_time)]
    return ok + [Wait(f"late{start}-{i}", "q", start, start + 100, True) for i in range(late)]


def test_queue_half_hours_breached_warned_ahead_and_false_warnings() -> None:
    truth = waits(0, 1, 3) + waits(1800, 1, 3) + waits(3600, 3, 0) + waits(5400, 1, 3)  # 3 breaches, 1 fine
    alerts = [
        (600.0, alert("sla_at_risk", "q")),  # 20 min ahead of the first half hour's end
        (1800 + 1600.0, alert("sla_at_risk", "q")),  # only 3.3 min ahead: too late for recall, right all the same
        (3600 + 60.0, alert("sla_at_risk", "q")),  # a half hour that ended fine: a false warning
        (3600 + 900.0, alert("sla_at_risk", "q")),  # fired again in it: still one false warning
        (7200 + 1700.0, alert("sla_at_risk", "q")),  # late, and nothing went wrong: false all the same
    ]
    truth += waits(7200, 3, 0)
    q = queue_quality(alerts, truth, CONFIG)
    assert (q.breaches, q.warned, q.warnings, q.right) == (3, 1, 4, 2)
    assert q.recall == pytest.approx(1 / 3) and q.precision == 0.5 and q.leads == (1200.0,)


def test_contacts_flagged_before_their_threshold() -> None:
    truth = [
        Wait("a", "q", 0, 100, True),  # breached, flagged at 5 s: 15 s ahead
        Wait("b", "q", 0, 100, False),  # breached (abandoned late), flagged only after 20 s
        Wait("c", "q", 0, 10, True),  # fine, but flagged: a false flag
        Wait("d", "q", 0, 50, True),  # breached, never flagged
    ]
    kind = "contact_breach_predicted"
    alerts = [(5.0, alert(kind, "a", subject_kind="contact")), (25.0, alert(kind, "b", subject_kind="contact")),
              (3.0, alert(kind, "c", subject_kind="contact"))]  # fmt: skip
    q = contact_quality(alerts, truth, CONFIG, [kind])
    assert (q.breaches, q.warned, q.warnings, q.right) == (3, 1, 3, 2)
    assert q.leads == (15.0,) and q.lead_median_seconds == 15.0
    assert math.isnan(contact_quality([], [], CONFIG, [kind]).recall)


def test_bench_warnings_reports_every_alert_kind() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from benchmarks.early_warning import render

    table = render(Path(__file__).resolve().parents[2] / "scenarios/bank-day.yaml", [None], 1)
    for kind in ("sla_at_risk", "contact_breach_predicted", "contact_waiting_long", "understaffed"):
        assert f"| {kind} |" in table
    assert "arrivals_above_forecast" not in table  # no forecast, nothing to compare arrivals with
    with_forecast = render(Path(__file__).resolve().parents[2] / "scenarios/bank-day.yaml", [None], 1, forecast=True)
    assert "| arrivals_above_forecast |" in with_forecast and "fitted on the days before" in with_forecast


def test_several_windows_pool_days_and_each_draws_its_seeds_as_alone() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from benchmarks.early_warning import windows_of

    scenario = load_scenario(Path(__file__).resolve().parents[2] / "scenarios/bank-day.yaml")
    runs = windows_of(scenario, [date(1999, 1, 4), date(1999, 8, 2)], 2)
    assert [seed for seed, _ in runs] == [0, 1, 0, 1]
    assert [s.replay.date for _, s in runs if s.replay] == ["1999-01-04", "1999-01-05", "1999-08-02", "1999-08-03"]


def test_lasting_alerts_judged_per_half_hour_with_reach() -> None:
    bad = {("q", 3600.0)}  # the third half hour went wrong
    kind = "understaffed"
    alerts = [
        (1800 + 1500.0, alert(kind, "q")),  # fired late in the half hour before: right with reach 1
        (1800 + 1600.0, alert(kind, "q")),  # already firing: not a new warning
        (3600 + 200.0, alert(kind, "q", "resolved")),
        (9000 + 100.0, alert(kind, "q")),  # a half hour with nothing wrong after it: false
        (9000 + 200.0, alert(kind, "q", "resolved")),
        (9000 + 900.0, alert(kind, "q")),  # again in the same half hour: still one false warning
    ]
    q = lasting_quality(alerts, bad, kind, reach=1)
    assert (q.breaches, q.warned, q.warnings, q.right) == (1, 1, 2, 1)
    assert q.leads == (1800 + 1800 - 1500.0,)  # from the firing in the half hour before
    same = lasting_quality(alerts, bad, kind, reach=0)  # only the half hour itself counts
    assert (same.warned, same.right) == (1, 0) and same.leads == (1800.0,)  # firing when it began


def test_surges_are_half_hours_that_ended_well_above_their_forecast() -> None:
    class Flat:
        def expected(self, at: float) -> float:
            return 10.0

    # 12 arrivals in the first half hour, 13 in the second, 36 in the third; 10 forecast in each.
    arrivals = [(float(t), "q") for t in range(0, 1800, 150)] + [(1800.0 + t, "q") for t in range(0, 1800, 140)]
    arrivals += [(3600.0 + t, "q") for t in range(0, 1800, 50)]
    assert surges(arrivals, {"q": Flat()}, 1.25, 10) == {("q", 1800.0), ("q", 3600.0)}
    assert surges(arrivals, {"q": Flat()}, 1.5, 10) == {("q", 3600.0)}
    assert surges(arrivals, {"q": Flat()}, 1.25, 20) == {("q", 3600.0)}  # too few to judge the second
    assert surges(arrivals, {}, 1.25, 10) == set()  # no forecast, no surge
