"""The online simulator's every event kind is accepted by a real worker: breaks, an outage and the
return, offers answered and rejected, sentiment updates, transfers, callbacks, repeat contacts and
channel hops go through Kafka and come back as decisions, with no dead letter."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from contact_router.processes import start_worker, stop_workers, wait_until_routing
from contact_router.settings import Settings
from contact_router.sim.platform import PlatformSimulator
from contact_router.sim.scenario import Scenario
from tests.conftest import Services
from tests.e2e.pipeline import Pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

METRICS_PORT = 19770  # this test's range: 19770-19789

ROUTING = {"default": {"offer_timeout_seconds": 6, "wrap_up_seconds": 0.5, "service_level_seconds": 5}}

# 40 s of a busy little center, in wall seconds (speed 1): short calls, agents who answer in ~0.5 s
# or reject, breaks every ~20 s, the expert team away between 10 s and 25 s, and a queue nobody
# serves whose customers ask for a callback after ~1 s (they never reach an agent, so no callback
# can race an assignment).
SCENARIO = {
    "name": "behaviour",
    "domains": ["behaviour"],
    "hours": 40 / 3600,
    "ring_seconds": 0.5,
    "answer_share": 0.8,
    "reject_share": 0.15,
    "routing": ROUTING,
    "timeline": [
        {"at_hours": 10 / 3600, "action": "log_out", "skill": "expert"},
        {"at_hours": 25 / 3600, "action": "log_in", "skill": "expert"},
    ],
    "queues": [
        {"name": "help", "skills": {"help": 1}, "arrivals_per_hour": 3600, "mean_handle_seconds": 2,
         "handle_sigma": 0.3, "mean_patience_seconds": 30, "home_handle_factor": 1.2,
         "transfer_share": 0.2, "transfer_to": "expert", "resolved_share": 0.5, "repeat_share": 1.0,
         "mean_repeat_after_seconds": 3, "hop_to": "chat", "hop_share": 0.5,
         "sentiment": {"every_seconds": 0.7, "drift_per_minute": -2}},
        {"name": "expert", "skills": {"expert": 1}, "arrivals_per_hour": 360, "mean_handle_seconds": 2,
         "mean_patience_seconds": 30},
        {"name": "chat", "channel": "chat", "skills": {"help": 1}, "arrivals_per_hour": 360,
         "mean_handle_seconds": 3, "mean_patience_seconds": 30},
        {"name": "nobody", "skills": {"unstaffed": 1}, "arrivals_per_hour": 360, "mean_handle_seconds": 2,
         "mean_patience_seconds": 1, "callback_share": 1.0},
    ],
    "agents": [
        {"name": "helper", "count": 4, "skills": {"help": [1, 5]}, "capacity": {"voice": 1, "chat": 2},
         "home_share": 0.5, "breaks": {"mean_every_minutes": 0.33, "mean_minutes": 0.05}},
        {"name": "expert", "count": 2, "skills": {"expert": [1, 5], "help": [1, 2]}},
    ],
}


@pytest.fixture
def worker(services: Services, tmp_path: Path) -> Iterator[Pipeline]:
    pipe = Pipeline(services.kafka_bootstrap, uuid.uuid4().hex[:8])
    asyncio.run(pipe.create_topics())
    routing = tmp_path / "routing.yaml"
    routing.write_text(yaml.safe_dump(ROUTING))
    env = pipe.worker_env(services.redis_url) | {"CONTACT_ROUTER_ROUTING_CONFIG": str(routing)}
    proc = start_worker(0, metrics_port=METRICS_PORT, log_path=tmp_path / "worker.log", env=env)
    try:
        wait_until_routing([METRICS_PORT], [proc], timeout=120)
        yield pipe
    finally:
        stop_workers([proc])


def test_every_simulated_event_kind_is_accepted_by_a_real_worker(worker: Pipeline) -> None:
    pipe = worker
    settings = Settings(
        kafka_bootstrap=pipe.bootstrap,
        **{f"topic_{name.replace('-', '_')}": topic for name, topic in pipe.topics.items()},
    )
    sim = PlatformSimulator(Scenario.model_validate(SCENARIO), settings, seed=3, on_summary=None)
    stats = asyncio.run(sim.run())
    outputs = asyncio.run(pipe.drain(quiet=3.0))

    dead = [o for o in outputs if o["type"] == "dead_letter"]
    assert not dead, [(d["data"]["reason"], d["data"].get("event_type")) for d in dead[:5]]
    assert stats.dead_letters == 0
    # The simulator did each thing at least once ...
    for what in ("rejected", "transferred", "callbacks", "sentiment_updates", "breaks", "repeats", "hops"):
        assert getattr(stats, what) > 0, what
    assert stats.completed > 0 and stats.answered > 0
    # ... and the worker acted on them: rejected offers went to someone else, transferred contacts
    # were routed again in the expert queue, callbacks wait as such, the outage left nobody for it.
    assigned = [o["data"] for o in outputs if o["type"] == "contact.assigned"]
    offers_per_contact = Counter(a["contact_id"] for a in assigned)
    assert any(n > 1 for n in offers_per_contact.values())
    assert any(a["transfers"] == 1 and a["queue"] == "expert" for a in assigned)
    queued = [o["data"] for o in outputs if o["type"] == "contact.queued"]
    assert any(q["queue"] == "nobody" and q["reason"] == "no_eligible_agent" for q in queued)
    # The same customers, seen coming back (repeat contacts and channel hops alert the supervisors).
    asyncio.run(
        pipe.read_until(
            lambda outs: {"repeat_contact", "channel_hop"} <= {o["data"]["kind"] for o in outs},
            timeout=30.0,
            outputs=("escalation-alerts",),
        )
    )
    report = sim.report()
    assert report["total"]["dead_letters"] == 0 and report["queues"]["help"]["arrived"] > 0
