"""The worker times every garbage collection: a full one stops routing while it runs."""

from __future__ import annotations

import gc

from prometheus_client import CollectorRegistry

from contact_router.metrics import Metrics
from contact_router.stream.worker import time_collections


def test_each_collection_is_observed_with_its_generation() -> None:
    registry = CollectorRegistry()
    callbacks = list(gc.callbacks)
    try:
        time_collections(Metrics(registry))
        gc.collect()
        gc.collect(0)
    finally:
        gc.callbacks[:] = callbacks
    assert registry.get_sample_value("contact_router_gc_pause_seconds_count", {"generation": "2"}) >= 1
    assert registry.get_sample_value("contact_router_gc_pause_seconds_count", {"generation": "0"}) >= 1
    assert registry.get_sample_value("contact_router_gc_pause_seconds_sum", {"generation": "2"}) > 0
