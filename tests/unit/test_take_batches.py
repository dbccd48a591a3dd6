"""Batches of input records (stream/batches.py) on a Faust stream fed from an in-process channel: no
broker is contacted (the app is never started), so Faust's own stream, flow control and acks run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import faust
from faust.types import EventT

from contact_router.stream.batches import take_batches

WITHIN = 0.02  # seconds a batch may keep growing
PATIENCE = 2.0  # far longer than any wait take_batches should make


def values(batch: list[EventT]) -> list[bytes]:
    return [event.value for event in batch]


async def batches_of(app: faust.App) -> tuple[faust.ChannelT, faust.StreamT, AsyncIterator[list[EventT]]]:
    channel = app.channel()
    stream = app.stream(channel)
    app.flow_control.resume()
    return channel, stream, take_batches(stream, max_records=500, within=WITHIN)


def new_app() -> faust.App:
    return faust.App(f"test-batches-{id(object())}", broker="kafka://127.0.0.1:1")


def test_a_lone_record_is_a_batch_at_once_and_queued_records_come_together() -> None:
    async def scenario() -> None:
        channel, _, batches = await batches_of(new_app())
        await channel.send(value=b"r1")
        assert values(await asyncio.wait_for(anext(batches), PATIENCE)) == [b"r1"]
        for value in (b"r2", b"r3", b"r4"):
            await channel.send(value=value)  # queued while r1's batch is still being processed
        assert values(await asyncio.wait_for(anext(batches), PATIENCE)) == [b"r2", b"r3", b"r4"]

    asyncio.run(scenario())


def test_a_record_buffered_before_a_rebalance_emptied_the_channel_is_still_handed_on() -> None:
    """What a rebalance does: Faust suspends the flow and empties the channel, then waits for every
    record handed out to be acked. r2 entered the buffer while r3 was queued behind it (so the batch
    was not ready), then r3 was dropped: r2 must still come out, or its ack never comes and the
    worker cannot give its partitions up (it hung there until it exited as stalled)."""

    async def scenario() -> None:
        app = new_app()
        channel, stream, batches = await batches_of(app)
        await channel.send(value=b"r1")
        assert values(await asyncio.wait_for(anext(batches), PATIENCE)) == [b"r1"]
        await channel.send(value=b"r2")
        await channel.send(value=b"r3")
        await asyncio.sleep(0.05)  # r2 is held for the next batch, r3 waits in the channel
        assert stream.channel.queue.qsize() == 1
        app.flow_control.suspend()
        following = asyncio.ensure_future(anext(batches))  # r1 is acked; r2 enters the buffer
        await asyncio.sleep(0.05)
        app.flow_control.clear()  # r3 is dropped (Kafka delivers it again after the rebalance)
        assert values(await asyncio.wait_for(following, PATIENCE)) == [b"r2"]

    asyncio.run(scenario())
