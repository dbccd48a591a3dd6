"""How settings become secured clients, without I/O: TLS and SASL arguments for Kafka, TLS and the ACL
user for Redis, contradictions refused at start, and secrets absent from every repr and log line."""

from __future__ import annotations

import ssl
from pathlib import Path

import faust
import pytest
import structlog
from redis.asyncio import RedisCluster
from redis.asyncio.connection import SSLConnection

from contact_router.security import (
    SecurityConfigError,
    aiokafka_kwargs,
    describe_kafka,
    describe_redis,
    faust_credentials,
    redis_client,
)
from contact_router.settings import Settings

KAFKA_SECRET = "kafka-pa55-3f9c"
REDIS_SECRET = "redis-pa55-81d2"
URL_SECRET = "url-pa55-77aa"


@pytest.fixture
def ca(tmp_path: Path) -> Path:
    """A real CA certificate: ssl.create_default_context loads it."""
    path = tmp_path / "ca.pem"
    path.write_text(CA_PEM)
    return path


def secured(ca: Path, **over: object) -> Settings:
    values: dict[str, object] = {
        "kafka_bootstrap": "broker-1:9093,broker-2:9093",
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_mechanism": "SCRAM-SHA-256",
        "kafka_sasl_username": "router",
        "kafka_sasl_password": KAFKA_SECRET,
        "kafka_ssl_cafile": ca,
        "redis_url": "rediss://redis-1:6380/0",
        "redis_username": "router",
        "redis_password": REDIS_SECRET,
        "redis_ssl_cafile": ca,
    }
    return Settings(**(values | over))  # type: ignore[arg-type]


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, ca: Path) -> None:
    monkeypatch.setenv("CONTACT_ROUTER_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("CONTACT_ROUTER_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("CONTACT_ROUTER_KAFKA_SASL_USERNAME", "router")
    monkeypatch.setenv("CONTACT_ROUTER_KAFKA_SASL_PASSWORD", KAFKA_SECRET)
    monkeypatch.setenv("CONTACT_ROUTER_KAFKA_SSL_CAFILE", str(ca))
    monkeypatch.setenv("CONTACT_ROUTER_REDIS_PASSWORD", REDIS_SECRET)
    s = Settings()
    assert s.kafka_security_protocol == "SASL_SSL" and s.kafka_sasl_mechanism == "SCRAM-SHA-512"
    assert s.kafka_sasl_password is not None and s.kafka_sasl_password.get_secret_value() == KAFKA_SECRET
    assert s.kafka_ssl_cafile == ca
    monkeypatch.setenv("CONTACT_ROUTER_KAFKA_SECURITY_PROTOCOL", "TLS")
    with pytest.raises(ValueError, match="kafka_security_protocol"):
        Settings()


def test_sasl_ssl_gives_aiokafka_a_verifying_context_and_the_scram_login(ca: Path) -> None:
    kwargs = aiokafka_kwargs(secured(ca))
    context = kwargs.pop("ssl_context")
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert kwargs == {
        "bootstrap_servers": "broker-1:9093,broker-2:9093",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "router",
        "sasl_plain_password": KAFKA_SECRET,
    }


def test_faust_gets_the_same_credentials(ca: Path) -> None:
    creds = faust_credentials(secured(ca))
    assert isinstance(creds, faust.SASLCredentials)
    assert creds.protocol.value == "SASL_SSL" and creds.mechanism.value == "SCRAM-SHA-256"
    assert (creds.username, creds.password) == ("router", KAFKA_SECRET)
    assert isinstance(creds.ssl_context, ssl.SSLContext)

    plain_sasl = faust_credentials(secured(ca, kafka_security_protocol="SASL_PLAINTEXT", kafka_ssl_cafile=None))
    assert isinstance(plain_sasl, faust.SASLCredentials) and plain_sasl.protocol.value == "SASL_PLAINTEXT"
    tls_only = faust_credentials(
        secured(ca, kafka_security_protocol="SSL", kafka_sasl_username=None, kafka_sasl_password=None)
    )
    assert isinstance(tls_only, faust.SSLCredentials) and tls_only.protocol.value == "SSL"
    assert faust_credentials(Settings()) is None
    assert aiokafka_kwargs(Settings()) == {
        "bootstrap_servers": "127.0.0.1:9092",
        "security_protocol": "PLAINTEXT",
        "ssl_context": None,
    }


def test_a_cluster_client_keeps_tls_and_the_acl_user_for_every_node(ca: Path) -> None:
    client = redis_client(secured(ca, redis_cluster=True))
    assert isinstance(client, RedisCluster)
    kw = client.get_connection_kwargs()
    assert kw["connection_class"] is SSLConnection
    assert (kw["username"], kw["password"]) == ("router", REDIS_SECRET)
    assert kw["ssl_cert_reqs"] == "required" and kw["ssl_check_hostname"] is True and kw["ssl_ca_certs"] == str(ca)
    assert [(n.host, n.port) for n in client.startup_nodes] == [("redis-1", 6380)]
    assert REDIS_SECRET not in repr(client)
    assert describe_redis(secured(ca, redis_cluster=True))["redis_cluster"] == "true"
    assert not isinstance(redis_client(secured(ca)), RedisCluster)


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"kafka_security_protocol": "PLAINTEXT", "kafka_sasl_username": None, "kafka_sasl_password": None},
         "TLS files are set but the security protocol is PLAINTEXT"),
        ({"kafka_sasl_password": None}, "needs kafka_sasl_username and kafka_sasl_password"),
        ({"kafka_security_protocol": "SSL"}, "SASL credentials are set but the security protocol is SSL"),
        ({"kafka_ssl_keyfile": "/nowhere/client.key"}, "needs its certificate file"),
        ({"kafka_ssl_cafile": "/nowhere/ca.pem"}, "/nowhere/ca.pem: no such file"),
    ],
)  # fmt: skip
def test_contradicting_kafka_settings_are_refused(ca: Path, over: dict[str, object], message: str) -> None:
    with pytest.raises(SecurityConfigError, match=message):
        aiokafka_kwargs(secured(ca, **over))
    with pytest.raises(SecurityConfigError, match=message):
        faust_credentials(secured(ca, **over))


def test_rediss_verifies_the_server_and_logs_in_as_the_acl_user(ca: Path) -> None:
    client = redis_client(secured(ca))
    pool = client.connection_pool
    assert pool.connection_class is SSLConnection
    kw = pool.connection_kwargs
    assert (kw["host"], kw["port"], kw["username"], kw["password"]) == ("redis-1", 6380, "router", REDIS_SECRET)
    assert kw["ssl_cert_reqs"] == "required" and kw["ssl_check_hostname"] is True
    assert kw["ssl_ca_certs"] == str(ca)

    plain = redis_client(Settings()).connection_pool
    assert plain.connection_class is not SSLConnection and "ssl_ca_certs" not in plain.connection_kwargs


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"redis_url": "redis://redis-1:6379/0"}, "the Redis URL is redis://: use rediss://"),
        ({"redis_username": None}, "redis_password needs redis_username"),
        ({"redis_ssl_keyfile": "/nowhere/k.pem"}, "needs its certificate file"),
    ],
)
def test_contradicting_redis_settings_are_refused(ca: Path, over: dict[str, object], message: str) -> None:
    with pytest.raises(SecurityConfigError, match=message):
        redis_client(secured(ca, **over))


def test_no_secret_in_reprs_dumps_or_log_lines(ca: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = secured(ca, redis_url=f"rediss://router:{URL_SECRET}@redis-1:6380/0")
    creds = faust_credentials(s)
    client = redis_client(s)
    seen = [
        repr(s), str(s), s.model_dump_json(), str(s.model_dump()), repr(creds), repr(client),
        repr(client.connection_pool), str(describe_kafka(s)), str(describe_redis(s)),
    ]  # fmt: skip
    structlog.get_logger("test").info("worker starting", **describe_kafka(s), **describe_redis(s))
    logged = capsys.readouterr().out
    assert "worker starting" in logged and "router" in logged
    seen.append(logged)
    for text in seen:
        for secret in (KAFKA_SECRET, REDIS_SECRET, URL_SECRET):
            assert secret not in text, text
    assert describe_kafka(s) == {
        "kafka": "broker-1:9093,broker-2:9093",
        "kafka_security": "SASL_SSL",
        "kafka_sasl": "SCRAM-SHA-256",
        "kafka_user": "router",
    }
    assert describe_redis(s) == {"redis": "redis-1:6380", "redis_tls": "true", "redis_user": "router"}


# A self-signed CA (EC P-256), generated once with openssl for these tests; no key is kept.
CA_PEM = """-----BEGIN CERTIFICATE-----
MIIBojCCAUmgAwIBAgIUAsp4fij2DlwkbyCrCKQPlVty7PQwCgYIKoZIzj0EAwIw
JjEkMCIGA1UEAwwbY29udGFjdC1yb3V0ZXIgdW5pdC10ZXN0IENBMCAXDTI2MTEy
MzEzMzgwN1oYDzIxMjYxMDMwMTMzODA3WjAmMSQwIgYDVQQDDBtjb250YWN0LXJv
dXRlciB1bml0LXRlc3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAT2sBCc
zuDx4UtUht+tmnRy48FwLYhtXpTaeae310LhOwDyZxWYBQxCzFJTGtXWdumKkoa0
1BlrFS9KIPLOBCHJo1MwUTAdBgNVHQ4EFgQUNyGSoagZEhiPG5Nb480otcQG1skw
HwYDVR0jBBgwFoAUNyGSoagZEhiPG5Nb480otcQG1skwDwYDVR0TAQH/BAUwAwEB
/zAKBggqhkjOPQQDAgNHADBEAiAlre65sYTRNVtDD+3I+MnwAUx/9Gd3mG2yLpGE
/Fc/GAIgAYBqGW8n0mIooy1RuyfMnqbcQkLZgFzsaWELKOz1ExA=
-----END CERTIFICATE-----
"""
