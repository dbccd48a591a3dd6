"""The shipped scenario files: every one loads, each says what its name promises, and a bad file
gives an error that names the field."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest

from contact_router.contract import AgentLoggedOut
from contact_router.sim.offline import OfflineSimulator
from contact_router.sim.scenario import ScenarioError, load_scenario
from contact_router.sim.workload import from_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


def test_the_four_scenarios_of_the_issue_are_shipped() -> None:
    names = {p.stem for p in SCENARIOS}
    assert {"small-team", "large-center", "understaffed-day", "outage"} <= names


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_every_scenario_file_loads(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.queues and scenario.agents


def test_each_scenario_is_what_its_name_says() -> None:
    small = load_scenario(ROOT / "scenarios" / "small-team.yaml")
    assert sum(g.count for g in small.agents) <= 75
    assert max(q.arrivals_per_hour for q in small.queues) <= 60  # small, volatile queues

    large = load_scenario(ROOT / "scenarios" / "large-center.yaml")
    assert sum(g.count for g in large.agents) >= 1000
    assert len({skill for g in large.agents for skill in g.skills}) >= 20
    assert sum(1 for g in large.agents if len(g.skills) > 1) == len(large.agents)  # multi-skill

    outage = load_scenario(ROOT / "scenarios" / "outage.yaml")
    (gone,) = [e for e in outage.timeline if e.action == "log_out"]
    workload = from_scenario(outage, random.Random(1))
    with_skill = {f"{g.name}-{i:04d}" for g in outage.agents if gone.skill in g.skills for i in range(g.count)}
    logged_out_then = {
        e.agent_id for t, e in workload.agent_events if isinstance(e, AgentLoggedOut) and t == gone.at_hours * 3600
    }
    assert with_skill and logged_out_then == with_skill  # every agent with the skill, nobody else


def test_the_outage_leaves_its_queue_without_answers_while_it_lasts() -> None:
    outage = load_scenario(ROOT / "scenarios" / "outage.yaml")
    sim = OfflineSimulator.from_scenario(outage, seed=2, early_warnings=False)
    sim.run()
    start, end = (e.at_hours * 3600 for e in outage.timeline)
    billing = [w for w in sim.waits if w.queue == "billing"]
    # Answers during the outage are only calls already ringing when it began.
    answered_during = [w for w in billing if w.answered and start + 60 < w.ended < end]
    answered_before = [w for w in billing if w.answered and start - 3600 < w.ended < start]
    assert len(answered_during) == 0 and len(answered_before) > 100


def test_a_bad_scenario_file_names_the_field(tmp_path: Path) -> None:
    text = (ROOT / "scenarios" / "outage.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("arrivals_per_hour: 190", "arrivals_per_hour: -5", 1))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(bad)
    assert "queues[0].arrivals_per_hour: Input should be greater than 0" in str(caught.value)

    bad.write_text(text.replace("skill: billing}", "skill: biling}", 1))
    with pytest.raises(ScenarioError, match=r"timeline\[0\]\.skill: no agent group has skill 'biling'"):
        load_scenario(bad)

    bad.write_text(text.replace("answer_share: 0.96", "answer_share: 0.96\nanswer_shares: 1"))
    with pytest.raises(ScenarioError, match="answer_shares: Extra inputs are not permitted"):
        load_scenario(bad)


def test_without_early_warnings_the_routing_is_the_same() -> None:
    """The detectors only watch: leaving them out (for big routing-quality runs) changes no routing
    decision. Event ids differ (the detectors' own timers are inputs too), so compare what was decided."""
    scenario = load_scenario(ROOT / "scenarios" / "small-team.yaml")
    scenario = scenario.model_copy(update={"hours": 2.0})
    runs: list[list[bytes]] = [[], []]
    OfflineSimulator.from_scenario(scenario, seed=4, record=runs[0]).run()
    OfflineSimulator.from_scenario(scenario, seed=4, record=runs[1], early_warnings=False).run()
    assert any(b'"escalation.alert"' in line for line in runs[0])

    def decided(lines: list[bytes]) -> list[tuple[str, str, str, str | None]]:
        docs = [orjson.loads(line) for line in lines]
        return [
            (d["time"], d["type"], d["data"]["contact_id"], d["data"].get("agent_id") or d["data"].get("outcome"))
            for d in docs
            if d["type"] in ("contact.assigned", "contact.closed", "contact.offer_timed_out")
        ]

    assert len(decided(runs[0])) > 200 and decided(runs[0]) == decided(runs[1])
