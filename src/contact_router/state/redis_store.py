"""The Redis store: live state of each routing domain under one hash tag, so a Redis Cluster keeps a
domain in one slot and one script call can change it atomically."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from typing import TypeVar

import orjson
import redis.asyncio as aioredis
import structlog
from redis.exceptions import (
    ClusterDownError,
    NoScriptError,
    RedisClusterException,
    ResponseError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential_jitter

from contact_router.alerts.state import CustomerHistory
from contact_router.routing.model import DomainState
from contact_router.state.records import (
    agent_from_record,
    agent_to_record,
    alert_from_record,
    alert_to_record,
    contact_from_record,
    contact_to_record,
    customer_from_record,
    customer_to_record,
    queue_from_record,
    queue_to_record,
)
from contact_router.state.store import (
    Changes,
    CommitResult,
    CommitStatus,
    InvariantViolation,
    Outbox,
    OutputRecord,
    Reindex,
    Snapshot,
    StoreLost,
)

log = structlog.get_logger("contact_router.state")

T = TypeVar("T")

RedisClient = aioredis.Redis | aioredis.RedisCluster

_COMMIT_LUA = resources.files("contact_router.state").joinpath("commit.lua").read_text()


class DomainKeys:
    """Every key of one domain shares the {domain} hash tag."""

    def __init__(self, prefix: str, domain: str) -> None:
        base = f"{prefix}:{{{domain}}}"
        self.base = base
        self.version = f"{base}:version"
        self.agents = f"{base}:agents"
        self.contacts = f"{base}:contacts"
        self.queues = f"{base}:queues"
        self.alerts = f"{base}:alerts"
        self._event = f"{base}:event:"
        self._customer = f"{base}:customer:"

    def event(self, event_id: str) -> str:
        return self._event + event_id

    def customer(self, ref: str) -> str:
        return self._customer + ref


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    log.warning("redis unavailable, retrying", attempt=state.attempt_number, error=type(exc).__name__)


def redis_away(exc: BaseException) -> bool:
    """Redis (or the cluster node of a slot) cannot answer now, but may later: a lost connection, a
    timeout, a cluster failing over (CLUSTERDOWN, TRYAGAIN, a slot without a node), or a cluster
    client that reached no node at all (redis-py raises that as a RedisClusterException *from* the
    connection error). Other RedisClusterExceptions (keys of two slots in one call) are bugs."""
    if isinstance(exc, RedisConnectionError | RedisTimeoutError | ClusterDownError | TryAgainError | SlotNotCoveredError):
        return True
    if isinstance(exc, RedisClusterException) and exc.__cause__ is not None:
        return redis_away(exc.__cause__)
    return False


def _until_redis_answers() -> AsyncRetrying:
    """Never give up on an event because Redis is away: wait and retry, so consuming pauses instead.
    A commit retried after a lost reply is safe: the event key makes it report a duplicate."""
    return AsyncRetrying(
        retry=retry_if_exception(redis_away),
        wait=wait_exponential_jitter(multiplier=0.05, max=5.0),
        before_sleep=_log_retry,
        reraise=True,
    )


def encode_outputs(outputs: list[OutputRecord]) -> bytes:
    return orjson.dumps([[o.topic, o.key, o.value.decode()] for o in outputs])


def decode_outputs(raw: bytes) -> list[OutputRecord]:
    return [OutputRecord(topic, key, value.encode()) for topic, key, value in orjson.loads(raw)]


async def _while_redis_away(call: Callable[[], Awaitable[T]]) -> T:
    """`call()`, retried while Redis is unreachable. The first try goes straight through: building
    the retrying loop costs more than the commit itself on the per-event path."""
    try:
        return await call()
    except Exception as exc:  # noqa: BLE001 - re-raised unless Redis is only away
        if not redis_away(exc):
            raise
    async for attempt in _until_redis_answers():
        with attempt:
            return await call()
    raise AssertionError("unreachable: the retrying loop returns or raises")


Command = tuple[str | bytes | int | float, ...]


class Pipeliner:
    """Sends the commands that callers hand in during one turn of the event loop as one pipeline.

    A worker applies a batch's domains side by side (service.py); each domain's commit (and its
    customers' lookup) handed to redis-py alone costs a connection of the pool, a write and a read,
    and redis-py's per-call work (a tenth of a busy worker's time in py-spy). Gathered, one round
    trip carries them all. Each caller gets its own replies (errors in place, as
    `raise_on_error=False` gives them), or the pipeline's failure, and retries on its own."""

    def __init__(self, client: RedisClient) -> None:
        self._client = client
        self._waiting: list[tuple[list[Command], asyncio.Future[list[object]]]] = []
        self._flushing: set[asyncio.Task[None]] = set()  # referenced until done (asyncio keeps weak ones)

    async def send(self, commands: list[Command]) -> list[object]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[object]] = loop.create_future()
        if not self._waiting:  # the first caller of this turn: send once the others have had theirs
            loop.call_soon(self._start_flush)
        self._waiting.append((commands, future))
        return await future

    def _start_flush(self) -> None:
        task = asyncio.ensure_future(self._flush())
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _flush(self) -> None:
        waiting, self._waiting = self._waiting, []
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for commands, _ in waiting:
                    for command in commands:
                        pipe.execute_command(*command)
                replies = await pipe.execute(raise_on_error=False)
        except Exception as exc:  # noqa: BLE001 - each caller decides (retry while Redis is away)
            for _, future in waiting:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:  # cancelled: so are the callers' waits
            for _, future in waiting:
                future.cancel()
            raise
        at = 0
        for commands, future in waiting:
            if not future.done():
                future.set_result(replies[at : at + len(commands)])
            at += len(commands)


class RedisStore:
    def __init__(
        self,
        client: RedisClient,
        *,
        key_prefix: str = "cr",
        event_ttl_seconds: int = 7 * 86400,
        customer_ttl_seconds: int = 7 * 86400,
        guard_marker: bool = False,
    ) -> None:
        """guard_marker: refuse to load state while the namespace's marker is missing (StoreLost), so a
        worker notices a lost store at its next load instead of routing on empty state."""
        self._client = client
        self._pipeliner = Pipeliner(client)
        self.guard_marker = guard_marker
        self._prefix = key_prefix
        self._event_ttl = event_ttl_seconds
        # A customer's history lives as long as the longest window that reads it (7-day repeats).
        self._customer_ttl = customer_ttl_seconds
        self._commit = client.register_script(_COMMIT_LUA)
        self._deadline_key = f"{key_prefix}:deadlines"
        self._marker_key = f"{key_prefix}:store-marker"

    @classmethod
    def from_url(cls, url: str, *, cluster: bool = False, **kwargs: object) -> RedisStore:
        """cluster: `url` names one node of a Redis Cluster (the client finds the others)."""
        client_class = aioredis.RedisCluster if cluster else aioredis.Redis
        return cls(client_class.from_url(url, decode_responses=False), **kwargs)  # type: ignore[arg-type]

    def keys(self, domain: str) -> DomainKeys:
        return DomainKeys(self._prefix, domain)

    async def load(self, domain: str) -> Snapshot:
        k = self.keys(domain)
        async for attempt in _until_redis_answers():
            with attempt:
                # A separate read: the marker is in no domain's slot. Loads happen on cache misses and
                # after conflicts, which is what a flushed store causes first.
                if self.guard_marker and not await self._client.exists(self._marker_key):
                    raise StoreLost(f"{self._marker_key} is missing: run `contact-router rebuild`")
                async with self._client.pipeline(transaction=True) as pipe:
                    pipe.get(k.version).hgetall(k.agents).hgetall(k.contacts).hgetall(k.queues).hgetall(k.alerts)
                    version, agents, contacts, queues, alerts = await pipe.execute()
        state = DomainState(
            agents={aid.decode(): agent_from_record(r) for aid, r in agents.items()},
            contacts={cid.decode(): contact_from_record(r) for cid, r in contacts.items()},
            queues={q.decode(): queue_from_record(r) for q, r in queues.items()},
            alerts={key.decode(): alert_from_record(r) for key, r in alerts.items()},
        )
        return Snapshot(int(version or 0), state)

    async def load_customers(self, domain: str, refs: list[str]) -> dict[str, CustomerHistory]:
        if not refs:
            return {}
        k = self.keys(domain)
        (raw,) = await _while_redis_away(lambda: self._send([("MGET", *[k.customer(ref) for ref in refs])]))
        return {ref: customer_from_record(r) for ref, r in zip(refs, raw, strict=True) if r is not None}

    async def commit(
        self,
        domain: str,
        expected_version: int,
        events: Sequence[Outbox],
        changes: Changes,
        reindex: Reindex | None = None,
    ) -> CommitResult:
        k = self.keys(domain)
        args: list[bytes | str | int] = [
            expected_version, self._event_ttl, len(events),
            len(changes.agents), len(changes.contacts), len(changes.queues), len(changes.alerts), self._customer_ttl,
            sum(1 for event in events if event.changed_state),
        ]  # fmt: skip
        args += [encode_outputs(event.outputs) for event in events]
        for records, encode in (
            (changes.agents, agent_to_record),
            (changes.contacts, contact_to_record),
            (changes.queues, queue_to_record),
            (changes.alerts, alert_to_record),
        ):
            for key, value in records.items():
                args += [key, b"" if value is None else encode(value)]
        keys = [k.version, k.agents, k.contacts, k.queues, k.alerts] + [k.event(e.event_id) for e in events]
        for ref, history in changes.customers.items():
            keys.append(k.customer(ref))
            args.append(customer_to_record(history))

        commands: list[Command] = [("EVALSHA", self._commit.sha, len(keys), *keys, *args)]
        # The index entry is a hint, outside the script's transaction: written even if the commit
        # conflicts, and rewritten by the retry. On a cluster it is in a slot of its own, so the two
        # commands may go to two nodes. EVALSHA as a raw command: redis-py's pipeline would ask SCRIPT
        # EXISTS first, a second round trip, and (to 8.1 at least) it blocks ClusterPipeline.evalsha
        # (redis-py #2914) but routes a raw EVALSHA by its keys.
        if reindex is not None and reindex.deadline is None:
            commands.append(("ZREM", self._deadline_key, domain))
        elif reindex is not None:
            commands.append(("ZADD", self._deadline_key, reindex.deadline, domain))

        def send() -> Awaitable[list[object]]:
            return self._send(commands)

        replies = await _while_redis_away(send)
        if isinstance(replies[0], NoScriptError):  # a restarted or flushed Redis: load it, go again
            await _while_redis_away(lambda: self._client.script_load(_COMMIT_LUA))
            replies = await _while_redis_away(send)
        for reply in replies:
            if isinstance(reply, ResponseError) and "INVARIANT" in str(reply):
                raise InvariantViolation(str(reply)) from None
            if isinstance(reply, Exception):
                raise reply
        status, payload, *duplicate = replies[0]  # type: ignore[misc]
        status = CommitStatus(status.decode())
        if status is CommitStatus.DUPLICATE:
            return CommitResult(status, expected_version, decode_outputs(payload), int(duplicate[0]))
        return CommitResult(status, int(payload))

    async def _send(self, commands: list[Command]) -> list[object]:
        """Commands in the loop turn's shared pipeline; errors come back in place, except a lost
        connection (a cluster pipeline hands back a node's as a reply): raised, for a retry."""
        replies = await self._pipeliner.send(commands)
        for reply in replies:
            if isinstance(reply, Exception) and redis_away(reply):
                raise reply
        return replies

    async def indexed_deadlines(self) -> dict[str, float]:
        async for attempt in _until_redis_answers():
            with attempt:
                pairs = await self._client.zrange(self._deadline_key, 0, -1, withscores=True)
        return {domain.decode(): score for domain, score in pairs}

    async def marker(self) -> dict[str, object] | None:
        """The namespace's marker: written at a worker's first start on empty topics, or by a
        rebuild; its absence with input on Kafka means the state was lost."""
        async for attempt in _until_redis_answers():
            with attempt:
                raw = await self._client.get(self._marker_key)
        return None if raw is None else orjson.loads(raw)

    async def write_marker(self, info: dict[str, object]) -> None:
        async for attempt in _until_redis_answers():
            with attempt:
                await self._client.set(self._marker_key, orjson.dumps(info))

    async def delete_marker(self) -> None:
        async for attempt in _until_redis_answers():
            with attempt:
                await self._client.delete(self._marker_key)

    async def wipe(self, domains: list[str] | None = None) -> int:
        """Delete the namespace's keys (the marker aside), or only these domains' keys and index
        entries: a rebuild starts from nothing, not from what a worker wrote after the loss."""
        bases = [self._prefix] if domains is None else [self.keys(d).base for d in domains]
        patterns = [f"{_glob(base)}:*" for base in bases]
        deleted = 0
        for pattern in patterns:
            batch: list[bytes] = []
            async for key in self._client.scan_iter(match=pattern, count=1000):
                if key.decode() != self._marker_key:
                    batch.append(key)
                if len(batch) >= 500:
                    deleted += await self._client.delete(*batch)
                    batch = []
            if batch:
                deleted += await self._client.delete(*batch)
        if domains:
            await self._client.zrem(self._deadline_key, *domains)
        return deleted

    async def ping(self) -> bool:
        """One quick try, no retries: for the health gauge, not for routing."""
        try:
            return bool(await self._client.ping())
        except Exception as exc:  # noqa: BLE001 - anything else is a bug, and raised
            if redis_away(exc) or isinstance(exc, OSError):
                return False
            raise

    async def close(self) -> None:
        await self._client.aclose()


def _glob(text: str) -> str:
    """`text` matched literally by SCAN MATCH."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
