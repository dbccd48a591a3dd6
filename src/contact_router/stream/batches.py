"""Input records in batches: whatever has arrived, up to a maximum, without waiting for more.

Faust's `Stream.take_events(max, within)` waits up to `within` for each batch to fill, and wakes every
`within` even when nothing arrives: with the few milliseconds a routing decision may wait, an idle
worker spent 7% of a core waking up, and under load a batch was cut by the clock, not by what was
there. This is the same mechanism (a stream processor fills a buffer while the stream is drained
passively; events are acked only when the next batch is asked for, so their offsets are committed
after their outputs were sent), but a batch ends as soon as no more records are queued in the
stream's channel: one record at a time when traffic is light, up to `max_records` under a backlog.
`within` only bounds how long a batch can keep growing while records keep coming, and how long a
record can wait in the buffer when no more come: on a rebalance Faust suspends the stream's flow and
empties its channel, and then waits for every record handed out to be acked before it gives the
partitions up. A record buffered while others were still queued must then be handed on without them,
or the worker never gives its partitions up (the other worker took them after the rebalance timeout,
and this one, still fetching for them in its own view, exited as stalled).

It uses Faust's stream internals as take_events does (faust-streaming 0.15): the passive drainer, the
processor list, the stream's channel queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import faust
import structlog
from faust.types import EventT

log = structlog.get_logger("contact_router.stream")


async def take_batches(stream: faust.StreamT, max_records: int, within: float) -> AsyncIterator[list[EventT]]:
    buffer: list[EventT] = []
    arrived = asyncio.Event()  # the buffer holds a record
    ready = asyncio.Event()  # a batch can be taken: the channel ran dry, or the buffer is full
    consumed = asyncio.Event()
    consuming: asyncio.Future[None] | None = None
    channel_queue = stream.channel.queue  # type: ignore[attr-defined]
    channel_it = aiter(stream.channel)

    async def add_to_buffer(value: Any) -> Any:
        nonlocal consuming
        try:
            if consuming is not None:  # a batch is being processed: hold this record for the next
                try:
                    await consuming
                finally:
                    consuming = None
            event = stream.current_event
            if event is None:
                raise RuntimeError("batch buffer found no current event")
            buffer.append(event)
            arrived.set()
            if len(buffer) >= max_records:
                ready.set()
                consumed.clear()
                await stream.wait(consumed)  # type: ignore[arg-type]
            elif channel_queue.empty():
                ready.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the stream must crash, as Faust's take does
            log.exception("adding to the batch buffer failed", error=type(exc).__name__)
            await stream.crash(exc)
        return value

    acks_before = stream.enable_acks
    stream.enable_acks = False  # acked by hand below, after the batch was processed
    stream.add_processor(add_to_buffer)
    stream._enable_passive(channel_it)  # type: ignore[attr-defined]
    try:
        while not stream.should_stop:
            if not buffer:
                await stream.wait_for_stopped(arrived)  # type: ignore[arg-type]  # idle: sleep until a record
            if not ready.is_set():  # records are still coming: let the batch grow a little
                await stream.wait_for_stopped(ready, timeout=within)  # type: ignore[arg-type]
            if not buffer:
                arrived.clear()
                ready.clear()
                continue
            consuming = asyncio.get_running_loop().create_future()
            try:
                yield list(buffer)
            finally:
                for event in buffer:
                    await stream.ack(event)
                buffer.clear()
                arrived.clear()
                ready.clear()
                if consuming is not None and not consuming.done():
                    consuming.set_result(None)
                consumed.set()
    finally:
        stream.enable_acks = acks_before
        stream._processors.remove(add_to_buffer)  # type: ignore[attr-defined]
