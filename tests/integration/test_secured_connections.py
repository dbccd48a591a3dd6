"""A worker over a secured Kafka (SASL_SSL, SCRAM, client certificates) and a secured Redis (TLS only,
client certificates, an ACL user confined to the key prefix), set up by the test with its own CA.

The real path: events produced over SASL_SSL, a worker process (the `contact-router worker` command,
configured by CONTACT_ROUTER_* variables) routes them, the decision is read back over SASL_SSL and
the state is read from Redis as the ACL user. And the refusals: a wrong password, a plaintext client,
a client without a certificate or trusting another CA, keys outside the prefix; a worker given a wrong
password stops at once and says why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError
from redis.exceptions import AuthenticationError, NoPermissionError
from redis.exceptions import ConnectionError as RedisConnectionError

from contact_router.processes import start_worker, stop_workers, wait_until_routing
from contact_router.security import ConnectionRefused, aiokafka_kwargs, check_kafka_login, check_redis_login
from contact_router.settings import Settings
from tests.factories import CUSTOMER_REF_KEY, agent_in, contact, envelope
from tests.integration.secured_servers import (
    KAFKA_PORT,
    WORKER_METRICS_PORT,
    KafkaUser,
    Pki,
    SecuredKafka,
    SecuredRedis,
    make_pki,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KAFKA_PASSWORD = f"kafka-{uuid.uuid4().hex}"
REDIS_PASSWORD = f"redis-{uuid.uuid4().hex}"
PREFIX = "secured"
TOPICS = ("contact-events", "agent-events", "routing-decisions", "escalation-alerts", "dead-letters")


@dataclass(frozen=True)
class Secured:
    pki: Pki
    kafka: SecuredKafka
    redis: SecuredRedis
    workdir: Path

    def env(self, **over: str) -> dict[str, str]:
        """The worker's settings, as an operator would set them."""
        values = {
            "KAFKA_BOOTSTRAP": self.kafka.bootstrap,
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": self.kafka.user.name,
            "KAFKA_SASL_PASSWORD": KAFKA_PASSWORD,
            "KAFKA_SSL_CAFILE": str(self.pki.ca),
            "KAFKA_SSL_CERTFILE": str(self.pki.client_cert),
            "KAFKA_SSL_KEYFILE": str(self.pki.client_key),
            "REDIS_URL": self.redis.url,
            "REDIS_USERNAME": self.redis.user,
            "REDIS_PASSWORD": REDIS_PASSWORD,
            "REDIS_SSL_CAFILE": str(self.pki.ca),
            "REDIS_SSL_CERTFILE": str(self.pki.client_cert),
            "REDIS_SSL_KEYFILE": str(self.pki.client_key),
            "REDIS_KEY_PREFIX": PREFIX,
            "APP_ID": "secured-test",
            "CUSTOMER_REF_KEY": CUSTOMER_REF_KEY,
            "LOG_LEVEL": "info",
        } | over
        return {f"CONTACT_ROUTER_{k}": v for k, v in values.items()}

    def settings(self, **over: object) -> Settings:
        values = {k.removeprefix("CONTACT_ROUTER_").lower(): v for k, v in self.env().items()}
        return Settings(**(values | over))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def secured() -> Iterator[Secured]:
    if shutil.which("java") is None:
        pytest.fail("java is missing: deploy/stack up installs it")
    workdir = Path(tempfile.mkdtemp(prefix="contact-router-secured-"))
    pki = make_pki(workdir / "pki")
    (workdir / "kafka").mkdir()
    kafka = SecuredKafka(workdir / "kafka", pki, KafkaUser("router", KAFKA_PASSWORD))
    redis = SecuredRedis(workdir / "redis", pki, "router", REDIS_PASSWORD, PREFIX)
    try:
        redis.start()
        kafka.start()
        yield Secured(pki, kafka, redis, workdir)
    finally:
        kafka.stop()
        redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)


async def test_a_worker_routes_over_sasl_ssl_and_keeps_state_in_tls_redis(secured: Secured) -> None:
    settings = secured.settings()
    admin = AIOKafkaAdminClient(**aiokafka_kwargs(settings))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 2, 1) for name in TOPICS])
    finally:
        await admin.close()

    log = secured.workdir / "worker.log"
    env = secured.env() | {"CONTACT_ROUTER_DATA_DIR": str(secured.workdir / "worker-data")}
    proc = start_worker(0, metrics_port=WORKER_METRICS_PORT, log_path=log, env=env)
    try:
        wait_until_routing([WORKER_METRICS_PORT], [proc], timeout=90)
        producer = AIOKafkaProducer(**aiokafka_kwargs(settings), acks="all")
        await producer.start()
        try:
            login = envelope("agent.logged_in", agent_in("ann", {"billing": 3}), domain="tenant-1", at=0)
            arrival = envelope("contact.arrived", contact("c1", {"billing": 2}), domain="tenant-1", at=1)
            # Both on contact-events: one partition, so the login is applied before the arrival.
            for env_ in (login, arrival):
                await producer.send_and_wait("contact-events", env_.to_bytes(), key=b"tenant-1")
        finally:
            await producer.stop()
        decision = await read_decision(settings, "c1")
        assert decision["data"]["agent_id"] == "ann" and decision["domain"] == "tenant-1"

        client = aioredis.Redis.from_url(
            secured.redis.url, username="router", password=REDIS_PASSWORD, ssl_ca_certs=str(secured.pki.ca),
            ssl_certfile=str(secured.pki.client_cert), ssl_keyfile=str(secured.pki.client_key),
        )  # fmt: skip
        try:
            keys = sorted([k.decode() async for k in client.scan_iter(match=f"{PREFIX}:{{tenant-1}}:*")])
            assert f"{PREFIX}:{{tenant-1}}:agents" in keys and f"{PREFIX}:{{tenant-1}}:contacts" in keys
            assert await client.hexists(f"{PREFIX}:{{tenant-1}}:agents", "ann")
        finally:
            await client.aclose()
    finally:
        stop_workers([proc])
        if "Traceback" in log.read_text(errors="replace"):
            print(f"--- {log}\n{log.read_text(errors='replace')[-4000:]}")
    text = log.read_text(errors="replace")
    assert "kafka_security" in text and "SASL_SSL" in text, text[-3000:]  # the worker logged how it connects
    assert KAFKA_PASSWORD not in text and REDIS_PASSWORD not in text


async def read_decision(settings: Settings, contact_id: str, timeout: float = 30.0) -> dict:  # type: ignore[type-arg]
    consumer = AIOKafkaConsumer(
        "routing-decisions", **aiokafka_kwargs(settings), auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                for m in messages:
                    out = orjson.loads(m.value)
                    if out["type"] == "contact.assigned" and out["data"]["contact_id"] == contact_id:
                        return out
    finally:
        await consumer.stop()
    raise AssertionError(f"no assignment of {contact_id} within {timeout:.0f} s")


async def test_kafka_refuses_a_wrong_password_plaintext_and_clients_without_our_certificates(secured: Secured) -> None:
    await check_kafka_login(secured.settings())  # the right login passes

    with pytest.raises(ConnectionRefused, match="refused user 'router' .SCRAM-SHA-512.: .*invalid credentials"):
        await check_kafka_login(secured.settings(kafka_sasl_password="not-the-password"))
    with pytest.raises(ConnectionRefused, match="TLS with Kafka .* failed: .*CERTIFICATE_VERIFY_FAILED"):
        await check_kafka_login(secured.settings(kafka_ssl_cafile=str(secured.pki.other_ca)))

    # The clients themselves: what the check stands in front of.
    refused = [
        secured.settings(kafka_sasl_password="not-the-password"),
        Settings(kafka_bootstrap=secured.kafka.bootstrap),  # PLAINTEXT
        secured.settings(kafka_ssl_certfile=None, kafka_ssl_keyfile=None),  # no client certificate
    ]
    for settings in refused:
        producer = AIOKafkaProducer(**aiokafka_kwargs(settings), request_timeout_ms=5000)
        with pytest.raises(KafkaConnectionError, match="Unable to bootstrap"):
            await producer.start()
        await producer.stop()


async def test_redis_refuses_wrong_password_default_user_plaintext_and_foreign_keys(secured: Secured) -> None:
    await check_redis_login(secured.settings())

    with pytest.raises(ConnectionRefused, match="refused user 'router'"):
        await check_redis_login(secured.settings(redis_password="not-the-password"))
    with pytest.raises(ConnectionRefused, match="may not use keys under elsewhere:"):
        await check_redis_login(secured.settings(redis_key_prefix="elsewhere"))
    with pytest.raises(ConnectionRefused, match="TLS with Redis .* failed: .*CERTIFICATE_VERIFY_FAILED"):
        await check_redis_login(secured.settings(redis_ssl_cafile=str(secured.pki.other_ca)))

    tls = {
        "ssl_ca_certs": str(secured.pki.ca),
        "ssl_certfile": str(secured.pki.client_cert),
        "ssl_keyfile": str(secured.pki.client_key),
    }
    attempts: list[tuple[aioredis.Redis, type[Exception]]] = [
        (aioredis.Redis.from_url(secured.redis.url, **tls), AuthenticationError),  # `default` is off
        (aioredis.Redis.from_url(secured.redis.url.replace("rediss", "redis"), username="router",
                                 password=REDIS_PASSWORD), RedisConnectionError),  # plaintext
        (aioredis.Redis.from_url(secured.redis.url, username="router", password=REDIS_PASSWORD,
                                 ssl_ca_certs=str(secured.pki.ca)), RedisConnectionError),  # no client certificate
    ]  # fmt: skip
    for client, error in attempts:
        with pytest.raises(error):
            await client.set(f"{PREFIX}:x", "1")
        await client.aclose()
    owner = aioredis.Redis.from_url(secured.redis.url, username="router", password=REDIS_PASSWORD, **tls)
    try:
        with pytest.raises(NoPermissionError):
            await owner.set("other-app:x", "1")
        with pytest.raises(NoPermissionError):
            await owner.flushall()
        assert await owner.set(f"{PREFIX}:x", "1")
    finally:
        await owner.aclose()


def test_a_worker_with_a_wrong_password_stops_at_once_and_says_why(secured: Secured) -> None:
    env = {**os.environ, **secured.env(KAFKA_SASL_PASSWORD="not-the-password", METRICS_PORT="0")}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "contact_router.cli", "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"contact-router worker: Kafka at 127.0.0.1:{KAFKA_PORT} (SASL_SSL) refused user 'router' (SCRAM-SHA-512)" in done.stderr
    assert "not-the-password" not in done.stdout + done.stderr
    assert time.monotonic() - started < 30

