"""PNG plots of the Kafka benchmarks for BENCHMARKS.md (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend is chosen first

from benchmarks.latency import CLOSED_LOOP, FAUST, RAW, RELAY, RatePoint  # noqa: E402
from benchmarks.soak import SoakResult  # noqa: E402
from benchmarks.throughput import KINDS, ThroughputResult  # noqa: E402


def throughput(result: ThroughputResult, path: Path) -> None:
    kinds = [k for k in KINDS if any(r.kind == k for r in result.runs)]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar(kinds, [result.median(k) for k in kinds], color=["#888", "#aaa", "#ccc", "#2a6", "#4c8"][: len(kinds)])
    for i, k in enumerate(kinds):
        runs = [r.events_per_second for r in result.runs if r.kind == k]
        ax.plot([i] * len(runs), runs, "k.", label="runs" if i == 0 else None)
    ax.set_yscale("log")
    ax.set_ylabel("events/s drained (log scale)")
    ax.set_title(f"Throughput: {result.events:,} events, medians of {result.repeats} runs")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def latency(points: list[RatePoint], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    for route, style in (("worker", "-o"), (CLOSED_LOOP, "-D"), (FAUST, "-.v"), (RELAY, "--s"), (RAW, ":^")):
        mine = sorted((p for p in points if p.path == route), key=lambda p: p.sent_rate)
        if not mine:
            continue
        rates = [p.sent_rate for p in mine]
        ax.plot(rates, [p.latency.p50_ms for p in mine], style, label=f"{route} p50")
        ax.plot(rates, [p.latency.p99_ms for p in mine], style, alpha=0.5, label=f"{route} p99")
    ax.set_yscale("log")
    ax.set_xlabel("events/s sent")
    ax.set_ylabel("arrival -> decision read back, ms (log scale)")
    ax.set_title("Latency at fixed rates")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def soak(result: SoakResult, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    minutes = [t / 60.0 for t, _, _ in result.samples]
    ax.plot(minutes, [rss / 2**20 for _, rss, _ in result.samples], "-", label="RSS")
    ax.axvline(result.minutes / 10.0, color="#999", linestyle=":", label="end of warm-up")
    ax.set_xlabel("minutes")
    ax.set_ylabel("worker RSS, MiB")
    ax.set_ylim(bottom=0)
    lag_ax = ax.twinx()  # a backlog held in fetch buffers shows as RSS rising with the lag
    scraped = [(t / 60.0, lag) for t, _, lag in result.samples if lag >= 0.0]  # -1: the worker did not answer
    lag_ax.plot([m for m, _ in scraped], [lag for _, lag in scraped], "-", color="#d62728", alpha=0.6, label="consumer lag")
    lag_ax.set_ylabel("consumer lag, records")
    lag_ax.set_ylim(bottom=0)
    load = "closed loop" if result.closed_loop else "recorded stream"
    sent = result.events_sent / (result.minutes * 60.0)
    ax.set_title(f"Memory, {load} at {sent:,.0f} events/s sent: {result.growth:+.1%} after the warm-up")
    handles, labels = ax.get_legend_handles_labels()
    lag_handles, lag_labels = lag_ax.get_legend_handles_labels()
    ax.legend(handles + lag_handles, labels + lag_labels, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
