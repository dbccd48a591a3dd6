"""Forecasts for a replayed day, as a planner would have had them: a profile fitted only on the days
before it, read on the replayed day's clock (the simulator's clock starts on a fixed Monday), and
split between the queues as the replay splits the calls."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from contact_router.alerts.outlook import Forecast
from contact_router.sim.offline import EPOCH
from contact_router.sim.scenario import Scenario
from contact_router.staffing.forecast import ForecastProfile, SeasonalProfile


@dataclass(frozen=True)
class ReplayedDayForecast:
    """One queue's share of a profile, looked up at the replayed date's wall-clock time."""

    profile: ForecastProfile
    day: date
    share: float

    def expected(self, at: float) -> float:
        """Expected contacts in the half hour containing simulated time `at` (EPOCH-based seconds)."""
        wall = datetime.combine(self.day, time()) + timedelta(seconds=at - EPOCH)
        return self.share * self.profile.expected(wall)


def replay_forecasts(
    scenario: Scenario, counts: Mapping[datetime, float], method: SeasonalProfile | None = None
) -> dict[str, Forecast]:
    """Each queue's forecast for the scenario's replayed day, fitted on `counts` before that day."""
    if scenario.replay is None:
        raise ValueError("only a replayed day has a history to forecast it from")
    day = date.fromisoformat(scenario.replay.date)
    before = {t: v for t, v in counts.items() if t.date() < day}  # the fit cuts there too; never trust one cut
    profile = (method or SeasonalProfile()).fit(before, day)
    total = sum(q.arrivals_per_hour for q in scenario.queues)
    scale = scenario.replay.scale
    return {q.name: ReplayedDayForecast(profile, day, scale * q.arrivals_per_hour / total) for q in scenario.queues}
