"""Settings from the environment (prefix CONTACT_ROUTER_), built by the entry points, never at import."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal

from pydantic import Field, NonNegativeInt, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from contact_router.contract.envelope import MAX_EVENT_BYTES


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONTACT_ROUTER_", extra="ignore")

    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated.")
    redis_url: SecretStr = Field(
        SecretStr("redis://127.0.0.1:6379/0"), description="Redis URL; may hold a password, so it is never logged."
    )
    # Secured connections (docs/security.md); contact_router.security builds the clients from these.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = Field(None, description="CA bundle the brokers' certificates are checked against.")
    kafka_ssl_certfile: Path | None = Field(None, description="Client certificate (PEM), for brokers that ask one.")
    kafka_ssl_keyfile: Path | None = None
    redis_cluster: bool = Field(
        False, description="The Redis URL names one node of a Redis Cluster: the client learns the others from it "
        "and sends each domain's keys to the node of their slot (docs/scaling.md).",
    )
    redis_username: str | None = Field(None, description="Redis ACL user (with redis_password).")
    redis_password: SecretStr | None = None
    redis_ssl_cafile: Path | None = Field(None, description="CA bundle for rediss:// URLs.")
    redis_ssl_certfile: Path | None = Field(None, description="Client certificate (PEM) for rediss:// URLs.")
    redis_ssl_keyfile: Path | None = None
    metrics_port: int = Field(9300, description="Port of this worker's Prometheus /metrics (0: none).")
    app_id: str = Field("contact-router", description="Faust app id, which is the Kafka consumer group.")
    topic_contact_events: str = "contact-events"
    topic_agent_events: str = "agent-events"
    topic_routing_decisions: str = "routing-decisions"
    topic_escalation_alerts: str = "escalation-alerts"
    topic_dead_letters: str = "dead-letters"
    redis_key_prefix: str = Field("cr", description="Prefix of every Redis key.")
    event_ttl_seconds: int = Field(7 * 86400, description="How long applied event ids (and outputs) are kept.")
    domain_cache_size: int = Field(10_000, description="Domains whose state a worker keeps cached.")
    data_dir: Path = Field(Path(tempfile.gettempdir()) / "contact-router", description="Faust's data directory.")
    routing_config: Path | None = Field(
        None, description="YAML routing policy per queue (offer timeouts, wrap-up); none: final assignments."
    )
    kafka_session_timeout_seconds: float = Field(
        10.0, gt=0, description="A worker that stops heartbeating loses its partitions after this (failover time)."
    )
    max_event_lead_seconds: float = Field(300.0, gt=0, description="Events timed further ahead of their record are dead-lettered.")
    max_event_lag_seconds: float = Field(86_400.0, gt=0, description="Events timed further behind their record are dead-lettered.")
    max_event_bytes: int = Field(MAX_EVENT_BYTES, gt=0, description="Larger input events are dead-lettered unread.")
    max_agents_per_domain: int = Field(
        20_000, gt=0, description="A new agent's login past this many agents in its domain is dead-lettered."
    )
    max_contacts_per_domain: int = Field(
        100_000, gt=0, description="A contact arriving when its domain has this many open is dead-lettered."
    )
    customer_ref_key: SecretStr | None = Field(
        None, description="Secret key (32+ characters) customer references are hashed with (HMAC-SHA256) before "
        "they are stored; the worker does not start without it.",
    )
    batch_max_events: int = Field(
        500, gt=0, description="Input records taken at once; each domain's events among them are committed to Redis together.",
    )
    batch_wait_seconds: float = Field(
        0.02, gt=0, description="A batch is taken as soon as no more records are queued; while they keep coming, "
        "it grows for at most this long.",
    )
    timer_interval_seconds: float = Field(0.2, gt=0, description="How often due timers are looked for.")
    timer_retry_seconds: float = Field(
        5.0, gt=0, description="A fired deadline its domain still reports is fired again only this long after: "
        "the retry of a timer.fired that was lost; longer than a timer.fired's normal trip through Kafka.",
    )
    gc_thresholds: tuple[NonNegativeInt, NonNegativeInt, NonNegativeInt] = Field(
        (50_000, 20, 100), description="Python's garbage collector thresholds in the worker (gc.set_threshold; "
        "JSON, e.g. [700,10,10] for Python's defaults). With the defaults a worker at 900 events/s ran a full "
        "collection every 2 s, 0.2 s each, stalling routing 9% of the time.",
    )
    health_interval_seconds: float = Field(5.0, gt=0, description="How often consumer lag and Redis/Kafka reachability are checked.")
    consumer_stall_seconds: float = Field(
        60.0, gt=0, description="Records waiting on an owned partition that is not fetched for this long: a stalled consumer."
    )
    consumer_stall_restart_seconds: float = Field(
        15.0, ge=0, description="How long a stall is exposed (contact_router_consumer_stalled) before the worker exits (code 75)."
    )
    chaos_pause_file: Path | None = Field(
        None, description="Testing only: while this file exists the worker stops fetching its input partitions, "
        "as the faust-streaming stalls do.",
    )
    per_agent_metrics_limit: int = Field(
        0, ge=0, description="Per-agent series (handled, AHT, CSAT, occupancy) for up to this many agents; 0: off. "
        "Above it they stay off, so a large center cannot flood Prometheus with series.",
    )
    event_loop: Literal["uvloop", "asyncio"] = Field(
        "uvloop", description="The worker's event loop (its own and its Kafka consumer thread's). uvloop's C loop "
        "spends less per socket write and callback, which at live rates is most of a worker's time.",
    )
    log_level: str = "info"
