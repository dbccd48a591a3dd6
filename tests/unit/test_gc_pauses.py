"""The worker's garbage collector: its thresholds are a setting, and every pause is timed (a full
collection stops routing while it runs)."""

from __future__ import annotations

import gc

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from contact_router.metrics import Metrics
from contact_router.settings import Settings
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


def test_collector_thresholds_are_read_as_json_and_negative_ones_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTACT_ROUTER_GC_THRESHOLDS", "[700, 10, 10]")
    assert Settings().gc_thresholds == (700, 10, 10)
    monkeypatch.setenv("CONTACT_ROUTER_GC_THRESHOLDS", "[700, -1, 10]")
    with pytest.raises(ValidationError):
        Settings()
