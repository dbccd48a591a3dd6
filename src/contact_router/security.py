"""The one place that turns settings into secured connections: the TLS context and SASL credentials
of every Kafka client (the Faust app's and aiokafka's), and the Redis client (TLS, ACL user).

Secrets stay in SecretStr until the moment a client needs them, and are never logged: what is
logged about a connection is `describe_kafka` / `describe_redis`, which name no password.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import faust
import redis.asyncio as aioredis
import structlog
from aiokafka.conn import create_conn
from aiokafka.errors import AuthenticationFailedError, KafkaError, SaslAuthenticationFailed
from aiokafka.helpers import create_ssl_context
from redis.exceptions import AuthenticationError, NoPermissionError, RedisClusterException, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from contact_router.settings import Settings

log = structlog.get_logger("contact_router.security")

KAFKA_SSL_PROTOCOLS = ("SSL", "SASL_SSL")
KAFKA_SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")


class SecurityConfigError(ValueError):
    """The security settings contradict each other (say, a CA file with a plaintext protocol)."""


class ConnectionRefused(RuntimeError):
    """A server refused our credentials, our TLS or our ACL: waiting will not help, so a worker stops."""


def _check_files(*paths: Path | None) -> None:
    for path in paths:
        if path is not None and not path.is_file():
            raise SecurityConfigError(f"{path}: no such file")


def check_kafka_settings(s: Settings) -> None:
    """Fail at start, with a message, on settings that would silently connect less securely than meant."""
    tls = s.kafka_security_protocol in KAFKA_SSL_PROTOCOLS
    if not tls and (s.kafka_ssl_cafile or s.kafka_ssl_certfile or s.kafka_ssl_keyfile):
        raise SecurityConfigError(
            f"Kafka TLS files are set but the security protocol is {s.kafka_security_protocol}: use SSL or SASL_SSL"
        )
    if s.kafka_ssl_keyfile and not s.kafka_ssl_certfile:
        raise SecurityConfigError("a Kafka client key file needs its certificate file (kafka_ssl_certfile)")
    sasl = s.kafka_security_protocol in KAFKA_SASL_PROTOCOLS
    if sasl and (not s.kafka_sasl_username or s.kafka_sasl_password is None):
        raise SecurityConfigError(f"{s.kafka_security_protocol} needs kafka_sasl_username and kafka_sasl_password")
    if not sasl and (s.kafka_sasl_username or s.kafka_sasl_password is not None):
        raise SecurityConfigError(
            f"Kafka SASL credentials are set but the security protocol is {s.kafka_security_protocol}: "
            "use SASL_PLAINTEXT or SASL_SSL"
        )
    _check_files(s.kafka_ssl_cafile, s.kafka_ssl_certfile, s.kafka_ssl_keyfile)


def kafka_ssl_context(s: Settings) -> ssl.SSLContext | None:
    """The TLS context of every Kafka connection (None without TLS): verifies the broker's certificate
    and host name against the CA file (the system's CAs without one), presents a client certificate if set."""
    check_kafka_settings(s)
    if s.kafka_security_protocol not in KAFKA_SSL_PROTOCOLS:
        return None
    return create_ssl_context(
        cafile=s.kafka_ssl_cafile,
        certfile=s.kafka_ssl_certfile,
        keyfile=s.kafka_ssl_keyfile,
    )


def faust_credentials(s: Settings) -> faust.types.auth.CredentialsT | None:
    """Faust's `broker_credentials`: SASL (with TLS for SASL_SSL), TLS alone, or none for PLAINTEXT."""
    context = kafka_ssl_context(s)
    if s.kafka_security_protocol in KAFKA_SASL_PROTOCOLS:
        assert s.kafka_sasl_password is not None  # checked by kafka_ssl_context
        return faust.SASLCredentials(
            username=s.kafka_sasl_username,
            password=s.kafka_sasl_password.get_secret_value(),
            ssl_context=context,
            mechanism=s.kafka_sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def aiokafka_kwargs(s: Settings) -> dict[str, Any]:
    """Keyword arguments for every AIOKafkaProducer / AIOKafkaConsumer / AIOKafkaAdminClient we make:
    the bootstrap servers and the security settings, the same as the worker's."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": s.kafka_bootstrap,
        "security_protocol": s.kafka_security_protocol,
        "ssl_context": kafka_ssl_context(s),
    }
    if s.kafka_security_protocol in KAFKA_SASL_PROTOCOLS:
        assert s.kafka_sasl_password is not None
        kwargs |= {
            "sasl_mechanism": s.kafka_sasl_mechanism,
            "sasl_plain_username": s.kafka_sasl_username,
            "sasl_plain_password": s.kafka_sasl_password.get_secret_value(),
        }
    return kwargs


def describe_kafka(s: Settings) -> dict[str, str]:
    """What to log about the Kafka connection: where and how, never the password."""
    described = {"kafka": s.kafka_bootstrap, "kafka_security": s.kafka_security_protocol}
    if s.kafka_security_protocol in KAFKA_SASL_PROTOCOLS:
        described |= {"kafka_sasl": s.kafka_sasl_mechanism, "kafka_user": s.kafka_sasl_username or ""}
    return described


def check_redis_settings(s: Settings) -> None:
    tls = urlparse(s.redis_url.get_secret_value()).scheme == "rediss"
    if not tls and (s.redis_ssl_cafile or s.redis_ssl_certfile or s.redis_ssl_keyfile):
        raise SecurityConfigError("Redis TLS files are set but the Redis URL is redis://: use rediss://")
    if s.redis_ssl_keyfile and not s.redis_ssl_certfile:
        raise SecurityConfigError("a Redis client key file needs its certificate file (redis_ssl_certfile)")
    if s.redis_password is not None and not s.redis_username:
        # Without a user name redis-py authenticates as `default`, which a hardened server disables.
        raise SecurityConfigError("redis_password needs redis_username (the ACL user)")
    _check_files(s.redis_ssl_cafile, s.redis_ssl_certfile, s.redis_ssl_keyfile)


def redis_client(s: Settings) -> aioredis.Redis | aioredis.RedisCluster:
    """The Redis client of the state store. For rediss:// URLs the server's certificate and host name
    are verified (against the CA file if set); the ACL user and password come from the settings
    unless the URL carries them. With redis_cluster, a cluster client with the same TLS and user
    for every node."""
    check_redis_settings(s)
    url = s.redis_url.get_secret_value()
    kwargs: dict[str, Any] = {"decode_responses": False}
    if urlparse(url).scheme == "rediss":
        kwargs |= {"ssl_cert_reqs": "required", "ssl_check_hostname": True}
        if s.redis_ssl_cafile:
            kwargs["ssl_ca_certs"] = str(s.redis_ssl_cafile)
        if s.redis_ssl_certfile:
            kwargs["ssl_certfile"] = str(s.redis_ssl_certfile)
        if s.redis_ssl_keyfile:
            kwargs["ssl_keyfile"] = str(s.redis_ssl_keyfile)
    if s.redis_username:
        kwargs["username"] = s.redis_username
    if s.redis_password is not None:
        kwargs["password"] = s.redis_password.get_secret_value()
    if s.redis_cluster:
        return aioredis.RedisCluster.from_url(url, **kwargs)
    return aioredis.Redis.from_url(url, **kwargs)


def describe_redis(s: Settings) -> dict[str, str]:
    """What to log about the Redis connection: host, port, TLS and user, never a password."""
    url = urlparse(s.redis_url.get_secret_value())
    described = {
        "redis": f"{url.hostname}:{url.port or 6379}",
        "redis_tls": str(url.scheme == "rediss").lower(),
        "redis_user": s.redis_username or url.username or "default",
    }
    if s.redis_cluster:
        described["redis_cluster"] = "true"
    return described


# ------------------------------------------------------------------ checks at start


def _ssl_failure(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind a connection error, if any (redis-py wraps it in its ConnectionError)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


async def check_kafka_login(s: Settings, timeout: float = 10.0) -> None:
    """Log in to the first bootstrap server as the clients will. Raises ConnectionRefused on refused
    credentials or TLS; a broker that is not up yet only gets a warning (the clients keep trying)."""
    kwargs = aiokafka_kwargs(s)
    first = kwargs.pop("bootstrap_servers").split(",")[0].strip()
    host, _, port = first.rpartition(":") if ":" in first else (first, ":", "9092")
    where = f"Kafka at {host}:{port} ({s.kafka_security_protocol})"
    try:
        conn = await create_conn(host, int(port), request_timeout_ms=int(timeout * 1000), **kwargs)
    except (SaslAuthenticationFailed, AuthenticationFailedError) as exc:
        raise ConnectionRefused(
            f"{where} refused user {s.kafka_sasl_username!r} ({s.kafka_sasl_mechanism}): {exc}"
        ) from None
    except ssl.SSLError as exc:
        raise ConnectionRefused(f"TLS with {where} failed: {exc}") from None
    except (TimeoutError, OSError, KafkaError) as exc:
        log.warning("kafka not reachable at start", error=str(exc), **describe_kafka(s))
        return
    conn.close()


async def check_redis_login(s: Settings) -> None:
    """Authenticate to Redis and touch a key under the prefix, as the store will. Raises
    ConnectionRefused on refused credentials, TLS or key permissions; an unreachable Redis only
    gets a warning (the store waits for it)."""
    client = redis_client(s)
    where = f"Redis at {describe_redis(s)['redis']}"
    user = s.redis_username or urlparse(s.redis_url.get_secret_value()).username or "default"
    try:
        await client.exists(f"{s.redis_key_prefix}:deadlines")
    except (RedisError, RedisClusterException, OSError) as raised:
        # A cluster client that reached no node raises a RedisClusterException *from* the node's error.
        exc = raised.__cause__ if isinstance(raised, RedisClusterException) and raised.__cause__ else raised
        if isinstance(exc, AuthenticationError):
            raise ConnectionRefused(f"{where} refused user {user!r}: {exc}") from None
        if isinstance(exc, NoPermissionError):
            raise ConnectionRefused(
                f"{where}: user {user!r} may not use keys under {s.redis_key_prefix}:* ({exc})"
            ) from None
        if not isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError | RedisClusterException):
            raise
        failure = _ssl_failure(exc)
        if failure is not None:
            raise ConnectionRefused(f"TLS with {where} failed: {failure}") from None
        log.warning("redis not reachable at start", error=str(exc), **describe_redis(s))
    finally:
        await client.aclose()


def check_logins(s: Settings) -> None:
    """Both checks, on a loop of their own (the worker's loop is not running yet)."""
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(check_kafka_login(s))
        loop.run_until_complete(check_redis_login(s))
    finally:
        loop.close()
