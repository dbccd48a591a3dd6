"""Forecasts for a replayed day: fitted only before it, read on its clock, split like its calls."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from contact_router.sim.offline import EPOCH
from contact_router.sim.replay_forecast import replay_forecasts
from contact_router.sim.scenario import Scenario
from contact_router.staffing.forecast import NoHistory, SeasonalProfile


def _scenario(day: str) -> Scenario:
    return Scenario.model_validate({
        "name": "s", "domains": ["d"],
        "replay": {"csv": Path("unused.csv"), "date": day},
        "queues": [
            {"name": "big", "arrivals_per_hour": 3, "mean_handle_seconds": 100, "mean_patience_seconds": 60},
            {"name": "small", "arrivals_per_hour": 1, "mean_handle_seconds": 100, "mean_patience_seconds": 60},
        ],
        "agents": [{"name": "a", "count": 1, "skills": {}}],
    })  # fmt: skip


def test_a_replayed_day_s_forecast_sees_only_the_days_before_it_on_its_own_clock() -> None:
    day = date(1999, 3, 3)  # a Wednesday; the simulator's clock starts on a Monday
    counts = {}
    for back in range(1, 8 * 7 + 1):
        d = day - timedelta(days=back)
        for slot in range(48):
            # Wednesdays: 8 calls at 10:00-10:30, 4 otherwise; other weekdays 1 call a half hour.
            counts[datetime.combine(d, time()) + timedelta(minutes=30 * slot)] = (
                (8.0 if slot == 20 else 4.0) if d.weekday() == 2 else 1.0
            )
    for slot in range(48):  # the day itself and after: a fit that looked here would see 1000s
        counts[datetime.combine(day, time()) + timedelta(minutes=30 * slot)] = 1000.0
        counts[datetime.combine(day + timedelta(days=1), time()) + timedelta(minutes=30 * slot)] = 1000.0
    forecasts = replay_forecasts(_scenario(day.isoformat()), counts, SeasonalProfile(weeks=8, screen_below=0))
    at_ten = EPOCH + 10 * 3600 + 60
    assert forecasts["big"].expected(at_ten) == pytest.approx(6.0)  # 3 of every 4 calls
    assert forecasts["small"].expected(at_ten) == pytest.approx(2.0)
    assert forecasts["big"].expected(EPOCH + 9 * 3600) == pytest.approx(3.0)
    # Past midnight the next weekday's profile applies (Thursday: 1 a half hour), still from history.
    assert forecasts["small"].expected(EPOCH + 86_400 + 60) == pytest.approx(0.25)


def test_only_a_replayed_scenario_has_a_history() -> None:
    scenario = _scenario("1999-03-03").model_copy(update={"replay": None})
    with pytest.raises(ValueError, match="replayed"):
        replay_forecasts(scenario, {})


def test_a_day_without_a_week_of_history_has_no_forecast() -> None:
    day = date(1999, 1, 4)  # a Monday: the data begins on the Friday before, so no Monday came before it
    counts = {datetime.combine(day - timedelta(days=back), time()): 5.0 for back in (1, 2, 3)}
    with pytest.raises(NoHistory, match="no Monday in the 8 weeks before 1999-01-04"):
        replay_forecasts(_scenario(day.isoformat()), counts)
