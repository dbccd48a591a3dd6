"""One running pipeline for the e2e session: unique topics, two worker processes, torn down after."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from contact_router.processes import start_worker, stop_workers, wait_until_routing
from tests.conftest import Services
from tests.e2e.pipeline import Pipeline

WORKERS = 2
BASE_PORT = 19400
# Queues with offers and wrap-up for the timer tests; every other queue keeps final assignments.
ROUTING_CONFIG = """
default: {preferred_agent_seconds: 2}
queues:
  ring: {offer_timeout_seconds: 2, max_missed_offers: 3}
  wrap: {wrap_up_seconds: 2}
  bullseye:
    relaxation:
      - {after_seconds: 1.5, lower_levels_by: 2}
  longest: {scoring: longest_idle}
  sweep: {max_handle_seconds: 2}
  strict: {offer_timeout_seconds: 1, max_missed_offers: 1}
  aging: {priority_aging_per_minute: 120}
"""


@pytest.fixture(scope="session")
async def pipeline(services: Services, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pipeline]:
    pipe = Pipeline(services.kafka_bootstrap, uuid.uuid4().hex[:8])
    await pipe.create_topics()
    logs: Path = tmp_path_factory.mktemp("workers")
    routing = logs / "routing.yaml"
    routing.write_text(ROUTING_CONFIG)
    env = pipe.worker_env(services.redis_url) | {"CONTACT_ROUTER_ROUTING_CONFIG": str(routing)}
    ports = [BASE_PORT + i for i in range(WORKERS)]
    procs = [start_worker(i, metrics_port=p, log_path=logs / f"worker-{i}.log", env=env) for i, p in enumerate(ports)]
    try:
        wait_until_routing(ports, procs, timeout=120)
        yield pipe
    finally:
        stop_workers(procs)
        for log in sorted(logs.glob("worker-*.log")):
            text = log.read_text(errors="replace")
            if "Traceback" in text:
                print(f"--- {log}\n{text[-4000:]}")


