"""Erlang C and Erlang A: the published worked example, each other, and the offline simulator."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from contact_router.cli import app
from contact_router.sim.offline import OfflineSimulator
from contact_router.sim.scenario import Scenario
from contact_router.staffing import agents_required, erlang_a, erlang_c, scheduled_agents

CALLS_PER_SECOND = 100 / 1800  # 100 calls per half hour


def test_the_published_erlang_c_example() -> None:
    # 100 calls in 30 minutes, AHT 180 s, 80% within 20 s: 14 agents, SL 0.888, P(wait) 0.174.
    result = agents_required(CALLS_PER_SECOND, 180, 20, 0.8)
    assert result.agents == 14
    assert result.service_level == pytest.approx(0.888, abs=0.0005)
    assert result.probability_of_waiting == pytest.approx(0.174, abs=0.0005)
    assert result.occupancy == pytest.approx(10 / 14)
    assert erlang_c(CALLS_PER_SECOND, 180, 13, 20).service_level < 0.8  # 13 would not do


def test_erlang_a_becomes_erlang_c_as_patience_grows() -> None:
    c = erlang_c(CALLS_PER_SECOND, 180, 12, 20)
    a = erlang_a(CALLS_PER_SECOND, 180, 12, 20, patience=1e8)
    assert a.service_level == pytest.approx(c.service_level, abs=1e-4)
    assert a.asa_seconds == pytest.approx(c.asa_seconds, rel=1e-3)
    assert a.probability_of_abandoning < 1e-5


def test_abandonment_shortens_the_queue_so_fewer_agents_meet_the_target() -> None:
    without = agents_required(CALLS_PER_SECOND, 180, 20, 0.8)
    with_patience = agents_required(CALLS_PER_SECOND, 180, 20, 0.8, patience=120)
    assert with_patience.agents < without.agents
    assert 0 < with_patience.probability_of_abandoning < 0.2
    # Erlang A stays defined below the offered load, where Erlang C has no steady state.
    overloaded = erlang_a(CALLS_PER_SECOND, 180, 8, 20, patience=60)
    assert 0 < overloaded.service_level < 0.8 and overloaded.probability_of_abandoning > 0.2
    assert erlang_c(CALLS_PER_SECOND, 180, 8, 20).service_level == 0.0


def test_erlang_a_agrees_with_the_offline_simulator() -> None:
    """Two independent routes to the same number: the queueing formula and a discrete-event run of
    the routing core with exponential handle times and patience."""
    scenario = Scenario.model_validate(
        {
            "name": "mmn+m",
            "domains": ["d"],
            "hours": 160,
            "routing": {"default": {"max_handle_seconds": None}},
            "queues": [
                {"name": "q", "arrivals_per_hour": 200, "mean_handle_seconds": 180,
                 "handle_distribution": "exponential", "mean_patience_seconds": 120}
            ],
            "agents": [{"name": "a", "count": 11, "skills": {}}],
        }
    )
    simulated = OfflineSimulator.from_scenario(scenario, seed=11).run().total
    model = erlang_a(200 / 3600, 180, 11, 20, patience=120)
    assert simulated["service_level_20s"] == pytest.approx(model.service_level, abs=0.02)
    assert simulated["abandonment_rate"] == pytest.approx(model.probability_of_abandoning, abs=0.01)


def test_shrinkage_scales_what_to_schedule() -> None:
    assert scheduled_agents(14, 0.0) == 14
    assert scheduled_agents(14, 0.3) == 20  # 14 / 0.7
    with pytest.raises(ValueError):
        scheduled_agents(14, 1.0)


def test_the_staffing_command_for_planners() -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["staffing", "--calls", "100", "--interval", "1800", "--aht", "180", "--threshold", "20",
              "--target-sl", "0.8", "--shrinkage", "0.3", "--json"],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["required"]["agents"] == 14 and doc["scheduled_agents"] == 20 and doc["model"] == "erlang_c"
    result = runner.invoke(
        app, ["staffing", "--calls", "100", "--aht", "180", "--threshold", "20", "--agents", "12", "--patience", "120"]
    )
    assert result.exit_code == 0 and "Erlang A" in result.output and "with 12 agents" in result.output


def test_erlang_a_leaves_out_only_states_that_cannot_be_answered_in_time() -> None:
    from scipy.stats import poisson

    from contact_router.staffing.erlang import _reach

    service, theta, threshold = 14 / 200, 1 / 240, 20.0
    kept = _reach(service, theta, threshold, 10_000)
    assert 30 < kept < 10_000
    # From the first state left out, kept + 1 steps at the fastest rate any state there has: a chance
    # far below what a service level can show.
    assert poisson.sf(kept, (service + (kept + 1) * theta) * threshold) < 1e-15
    assert _reach(service, theta, threshold, 5) == 5  # never more states than there are
    assert _reach(service, 1.0, threshold, 500) == 500  # patience shorter than the threshold: keep all
