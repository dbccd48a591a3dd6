"""The limits a worker is measured against: the same consume -> produce work with no routing.

    python -m benchmarks.baselines relay  --bootstrap B --group G --inputs a,b --output o --metrics-port P
    python -m benchmarks.baselines faust  --bootstrap B --group G --inputs a,b --output o --metrics-port P

`relay` is a plain aiokafka loop: fetch a batch, send each record on, offsets auto-committed every
second. `faust` is a no-op Faust agent configured as our worker is (concurrency 1, acks=all, sends
with force=True, commits every second). Both run on the worker's event loop (settings.event_loop). Each counts the records it forwarded on its own /metrics
(`bench_events_total`), which the benchmark polls the same way it polls a worker.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from prometheus_client import CollectorRegistry, Counter, start_http_server

FORWARDED = "bench_events_total"


def _counter(port: int) -> Counter:
    registry = CollectorRegistry()
    counter = Counter(FORWARDED.removesuffix("_total"), "Records consumed and sent on.", registry=registry)
    start_http_server(port, registry=registry)
    return counter


async def relay(bootstrap: str, group: str, inputs: list[str], output: str, counter: Counter) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    consumer = AIOKafkaConsumer(
        *inputs,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        auto_commit_interval_ms=1000,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await consumer.start()
    await producer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=100, max_records=1000)
            for records in batches.values():
                for record in records:
                    await producer.send(output, record.value, key=record.key)
                    counter.inc()
    finally:
        await consumer.stop()
        await producer.stop()


def faust_noop(bootstrap: str, group: str, inputs: list[str], output: str, counter: Counter, port: int) -> None:
    import faust

    from contact_router.settings import Settings
    from contact_router.stream.app import faust_app, faust_worker

    app = faust_app(Settings(kafka_bootstrap=bootstrap, app_id=group, data_dir=f"/tmp/bench-faust-{group}-{port}"))  # type: ignore[arg-type]
    source = app.topic(*inputs)
    sink = app.topic(output)

    async def forward(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await sink.send(key=event.message.key, value=event.message.value, force=True)
            counter.inc()

    app.agent(source, name="forward", concurrency=1)(forward)
    sys.argv = [sys.argv[0], "worker", "--loglevel", "warning"]
    faust_worker(app, "warning").execute_from_commandline()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["relay", "faust"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--inputs", required=True, help="Comma-separated input topics.")
    parser.add_argument("--output", required=True)
    parser.add_argument("--metrics-port", type=int, required=True)
    args = parser.parse_args()
    counter = _counter(args.metrics_port)
    # The worker's event loop (CONTACT_ROUTER_EVENT_LOOP), so the limits are measured on the same one.
    from contact_router.settings import Settings
    from contact_router.stream.app import use_event_loop

    use_event_loop(Settings().event_loop)
    inputs = args.inputs.split(",")
    if args.kind == "relay":
        asyncio.run(relay(args.bootstrap, args.group, inputs, args.output, counter))
    else:
        faust_noop(args.bootstrap, args.group, inputs, args.output, counter, args.metrics_port)


if __name__ == "__main__":
    main()
