"""Real services for the integration and e2e suites.

Kafka and Redis come from CONTACT_ROUTER_KAFKA_BOOTSTRAP / CONTACT_ROUTER_REDIS_URL (defaults on
127.0.0.1) when they answer; otherwise from testcontainers where a Docker engine runs; otherwise the
suite fails with a message naming `deploy/stack up`. It never skips silently.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlparse

import pytest

from tests.redis_cluster import Cluster
from tests.redis_cluster import redis_cluster as start_redis_cluster


@dataclass(frozen=True)
class Services:
    kafka_bootstrap: str
    redis_url: str


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _docker_engine() -> bool:
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:  # noqa: BLE001 - any failure means no usable engine
        return False


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    kafka = os.environ.get("CONTACT_ROUTER_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    redis_url = os.environ.get("CONTACT_ROUTER_REDIS_URL", "redis://127.0.0.1:6379/0")
    k_host, k_port = kafka.split(",")[0].rsplit(":", 1)
    r = urlparse(redis_url)
    if _answers(k_host, int(k_port)) and _answers(r.hostname or "127.0.0.1", r.port or 6379):
        yield Services(kafka, redis_url)
        return
    if _docker_engine():
        from testcontainers.kafka import KafkaContainer
        from testcontainers.redis import RedisContainer

        with KafkaContainer().with_kraft() as k, RedisContainer() as rc:
            yield Services(k.get_bootstrap_server(), f"redis://{rc.get_container_host_ip()}:{rc.get_exposed_port(6379)}/0")
        return
    pytest.fail(
        f"no Kafka at {kafka} or no Redis at {redis_url}, and no Docker engine for testcontainers: "
        "start the local stack with `deploy/stack up` (or set CONTACT_ROUTER_KAFKA_BOOTSTRAP / "
        "CONTACT_ROUTER_REDIS_URL)",
        pytrace=False,
    )


@pytest.fixture
def unique() -> str:
    """A fresh name, so tests share the session's services without seeing each other's data."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[Cluster]:
    """A three-node Redis Cluster of our own on loopback (tests/redis_cluster.py), for the session."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.fail("the Redis Cluster tests need redis-server and redis-cli on PATH", pytrace=False)
    with start_redis_cluster() as cluster:
        yield cluster
