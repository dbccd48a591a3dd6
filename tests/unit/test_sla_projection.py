"""The half hour's service-level projection behind `sla_at_risk`: the later contacts' service level
leans on the queue's record, and the projection's spread follows the ratio it projects."""

from __future__ import annotations

import math

import pytest

from contact_router.alerts.config import AlertPolicy
from contact_router.alerts.outlook import (
    certainty_z,
    later_service_level,
    later_variance,
    projection_rate,
    queue_outlook,
    share_variance,
    waiting_share,
)
from contact_router.alerts.state import PeriodCounts, QueueStats
from contact_router.contract import Channel
from contact_router.routing.config import QueuePolicy
from contact_router.routing.model import Agent, Contact


def test_later_contacts_get_the_model_until_the_record_outweighs_it() -> None:
    assert later_service_level(0.95, 0, 0, 20.0) == 0.95  # nothing seen yet: the model alone
    assert later_service_level(0.95, 10, 20, 20.0) == pytest.approx((10 + 20 * 0.95) / 40)
    assert later_service_level(0.95, 10, 20, 0.0) == 0.5  # no weight on the model: the record alone
    assert later_service_level(0.95, 500, 1000, 20.0) == pytest.approx(0.5, abs=0.01)


def test_the_spread_of_later_contacts_is_the_ratio_s_not_the_count_s() -> None:
    assert later_variance(0.0, 0.8, 0.8, 100.0) == 0.0
    # With the projection at their own service level and a certain one, each later contact adds
    # s(1 - s): met and offered move together (a Poisson count of "met" alone would add s).
    assert later_variance(10.0, 0.8, 0.8, 1e12) == pytest.approx(10 * 0.8 * 0.2)
    # Doubt about the service level itself grows with the square of the contacts it applies to.
    doubt = later_variance(10.0, 0.8, 0.8, 19.0) - later_variance(10.0, 0.8, 0.8, 1e12)
    assert doubt == pytest.approx(100 * 0.16 / 20)


def _outlook(previous: PeriodCounts, prior: float) -> float:
    policy = QueuePolicy.model_validate({"alerts": {"sla_prior_contacts": prior}})
    stats = QueueStats(period_start=0.0, previous=previous, current=PeriodCounts(arrived=10, answered=10, met=10))
    stats.skills = {"premium": 1}
    agents = [Agent(f"a{i}", {"premium": 2}, {Channel.VOICE: 1}) for i in range(10)]
    view = queue_outlook("premium", stats, policy, agents, [], now=600.0, forecast=None)
    assert view.projected_service_level is not None and view.projected_upper is not None
    assert view.projected_upper > view.projected_service_level
    return view.projected_service_level


def test_a_queue_answering_late_despite_its_staffing_is_projected_by_its_record() -> None:
    # Ten agents for 45 calls an hour: Erlang C promises nearly everyone in time. Last half hour
    # those agents (shared with a busier queue) answered 8 of 20 in time: the record tempers that.
    poor = PeriodCounts(arrived=20, answered=20, met=8)
    trusting = _outlook(poor, prior=1e9)
    tempered = _outlook(poor, prior=20.0)
    assert trusting > 0.95
    assert tempered < trusting - 0.05
    assert _outlook(PeriodCounts(arrived=20, answered=20, met=20), prior=20.0) > 0.95


def test_less_certainty_is_needed_late_in_the_half_hour() -> None:
    rules = AlertPolicy(sla_certainty_z=1.25, sla_late_certainty_z=0.75, sla_late_after_seconds=960)
    assert certainty_z(rules, 600.0) == 1.25
    assert certainty_z(rules, 959.0) == 1.25
    assert certainty_z(rules, 960.0) == 0.75


def _overloaded(patience: float | None, now: float = 600.0) -> tuple[float, float]:
    """Two agents for 60 calls an hour (40 in the 40 minutes seen) of 200 s: 3.3 erlangs, where
    Erlang C's queue grows without bound."""
    policy = QueuePolicy.model_validate({"alerts": {"sla_prior_contacts": 1e9, "patience_seconds": patience}})
    stats = QueueStats(period_start=0.0, current=PeriodCounts(arrived=40, answered=10, met=10), aht=200.0)
    stats.skills = {"retail": 1}
    agents = [Agent(f"a{i}", {"retail": 2}, {Channel.VOICE: 1}) for i in range(2)]
    view = queue_outlook("retail", stats, policy, agents, [], now=now, forecast=None)
    assert view.projected_service_level is not None and view.projected_upper is not None
    return view.projected_service_level, view.projected_upper


def test_with_a_patience_later_contacts_get_erlang_a_s_service_level() -> None:
    # 10 answered in time, then the rest of the half hour at the model's service level (the record
    # weighs nothing here): Erlang C gives them none; Erlang A, with customers hanging up after
    # 4 minutes on average, answers some in time.
    erlang_c_projection, _ = _overloaded(None)
    erlang_a_projection, _ = _overloaded(240.0)
    assert erlang_c_projection == pytest.approx(10 / (10 + 20))  # 20 minutes at one call a minute, none in time
    assert erlang_a_projection > erlang_c_projection + 0.02


def test_the_projection_s_margin_narrows_once_late_in_the_half_hour() -> None:
    early_projection, early_upper = _overloaded(240.0, now=900.0)
    late_projection, late_upper = _overloaded(240.0, now=1000.0)
    z_early, z_late = AlertPolicy().sla_certainty_z, AlertPolicy().sla_late_certainty_z
    assert z_late < z_early
    assert (late_upper - late_projection) < (early_upper - early_projection)


class _Flat:
    """A forecast of the same arrivals in every half hour."""

    def __init__(self, arrivals: float) -> None:
        self.arrivals = arrivals

    def expected(self, at: float) -> float:
        return self.arrivals


def test_a_forecast_counts_as_one_more_half_hour_of_observation() -> None:
    # 10 minutes in: 30 arrivals in the last half hour and 20 in this one's first 10 minutes.
    stats = QueueStats(period_start=1800.0, previous=PeriodCounts(arrived=30), current=PeriodCounts(arrived=20))
    assert projection_rate(stats, 600.0, None) == pytest.approx(50 / 2400)
    assert projection_rate(stats, 600.0, 90.0) == pytest.approx((50 + 90) / 4200)
    assert projection_rate(QueueStats(period_start=0.0), 0.0, None) == 0.0
    # At the half hour's first second the last one's rate holds (it used to drop to nothing).
    assert projection_rate(QueueStats(period_start=0.0, previous=PeriodCounts(arrived=30)), 0.0, None) == 30 / 1800
    assert projection_rate(QueueStats(period_start=0.0), 0.0, 90.0) == pytest.approx(90 / 3600)


def test_staffing_plans_by_the_forecast_while_the_projection_blends_it() -> None:
    policy = QueuePolicy.model_validate({})
    stats = QueueStats(period_start=1800.0, previous=PeriodCounts(arrived=30), current=PeriodCounts(arrived=20))
    stats.skills = {"retail": 1}
    agents = [Agent(f"a{i}", {"retail": 2}, {Channel.VOICE: 1}) for i in range(5)]
    view = queue_outlook("retail", stats, policy, agents, [], now=2400.0, forecast=_Flat(180.0))
    assert view.arrival_rate == pytest.approx(180 / 1800)
    assert view.projection_rate == pytest.approx((50 + 180) / 4200)
    unforecast = queue_outlook("retail", stats, policy, agents, [], now=2400.0, forecast=None)
    assert unforecast.arrival_rate == unforecast.projection_rate == pytest.approx(50 / 2400)
    # The projection's later arrivals follow its rate: a busier forecast means more contacts to come.
    assert view.projected_offered > unforecast.projected_offered


def test_a_wait_counts_in_the_half_hour_it_ends() -> None:
    # First in line, one place freeing up every 200 s on average: answered within 10 s with chance
    # 1 - exp(-10 / 200). Already late, it can only count as offered, and only if answered in time
    # to count in this half hour.
    late_met, late_offered = waiting_share(1, 1, 200.0, time_left=-5.0, remaining=10.0)
    assert late_met == 0.0 and late_offered == pytest.approx(1 - math.exp(-10 / 200))
    # With 15 s to its threshold but 10 s left in the half hour, met and offered both need the 10 s.
    assert waiting_share(1, 1, 200.0, time_left=15.0, remaining=10.0) == pytest.approx((late_offered, late_offered))
    # With the whole half hour ahead, it counts here almost surely; in time with 15 s to go.
    met, offered = waiting_share(1, 1, 200.0, time_left=15.0, remaining=1200.0)
    assert met == pytest.approx(1 - math.exp(-15 / 200)) and offered > 0.99


def test_a_contact_s_spread_is_bernoulli_when_it_surely_counts() -> None:
    assert share_variance(0.3, 1.0, 0.8) == pytest.approx(0.3 * 0.7)
    assert share_variance(0.0, 0.0, 0.8) == 0.0
    assert share_variance(0.0, 0.5, 0.8) == pytest.approx(0.5 * 0.64 - 0.16)  # offered only: (-0.8) half the time


def test_a_late_contact_with_seconds_to_go_does_not_sink_the_half_hour() -> None:
    # 12 of 15 in time (0.80, on target) 5 s before the end, one contact waiting 60 s already.
    policy = QueuePolicy.model_validate({})
    stats = QueueStats(period_start=0.0, current=PeriodCounts(arrived=16, answered=15, met=12), aht=200.0)
    stats.skills = {"retail": 1}
    agents = [Agent("a0", {"retail": 2}, {Channel.VOICE: 1})]
    late = Contact("c1", Channel.VOICE, "retail", {"retail": 1}, arrived_at=1735.0)
    view = queue_outlook("retail", stats, policy, agents, [late], now=1795.0, forecast=None)
    assert view.projected_service_level is not None
    # Counted here it would be 12 of 16 (0.75); it is answered in the last 5 s with chance 2.5%, and
    # the 0.02 contacts expected to arrive in those 5 s move the rest.
    assert 0.795 < view.projected_service_level < 0.8
