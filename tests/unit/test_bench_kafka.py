"""The pure parts of the Kafka benchmarks: the load they play and how they read rates and latencies."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.latency import Percentiles, RatePoint, measure  # noqa: E402
from benchmarks.load import events_per_second, many_domains, phased_rate, recorded_inputs  # noqa: E402
from benchmarks.soak import SoakResult, render  # noqa: E402
from benchmarks.throughput import Drain, ThroughputResult, backlog, crossing, drain_rate  # noqa: E402
from contact_router.contract import decode_envelope, parse_input  # noqa: E402

DEMO = ROOT / "scenarios" / "demo.yaml"


def test_the_throughput_backlog_spreads_its_events_over_the_domains_asked_for() -> None:
    stream = backlog(DEMO, 2_000, 16, minutes=2)
    assert len(stream) == 2_000
    per_domain = [sum(1 for e in stream if e.domain == d) for d in {e.domain for e in stream}]
    assert len(per_domain) == 16 and max(per_domain) - min(per_domain) <= 1
    with pytest.raises(ValueError, match="needs more than 2 minutes"):
        backlog(DEMO, 200_000, 16, minutes=2)


def test_the_recorded_load_is_valid_input_for_every_domain_in_each_domains_order() -> None:
    inputs = recorded_inputs(DEMO, minutes=2)
    assert inputs[0][1]["type"] == "agent.logged_in"
    assert {e["type"] for _, e in inputs} >= {"contact.arrived", "contact.accepted", "timer.fired"}
    assert all(not e["type"].startswith(("contact.assigned", "contact.queued", "escalation")) for _, e in inputs)
    # Played live, the worker fires its own timers: the simulated workers' are left out.
    live = recorded_inputs(DEMO, minutes=2, timers=False)
    assert [e for _, e in live] == [e for _, e in inputs if e["type"] != "timer.fired"]

    stream = many_domains(inputs, 3, phase_seconds=10.0)
    assert len(stream) == 3 * len(inputs)
    assert [e.at for e in stream] == sorted(e.at for e in stream)
    for domain in {e.domain for e in stream}:
        mine = [e.envelope["id"] for e in stream if e.domain == domain]
        assert mine == [e["id"] for _, e in inputs]  # each domain keeps the recorded order

    first = stream[0]
    envelope = decode_envelope(first.encode(base=1_800_000_000.0))
    parse_input(envelope)
    assert envelope.domain == first.domain
    assert envelope.timestamp == pytest.approx(1_800_000_000.0 + first.at, abs=1e-3)
    assert first.agent_topic == envelope.type.startswith("agent.")
    assert orjson.loads(first.encode(0.0))["data"] == first.envelope["data"]


def test_a_drain_rate_is_read_between_the_marks_not_over_start_up_and_the_tail() -> None:
    # 2 s of start-up with nothing handled, then 1,000 events/s, then a slow tail.
    samples = [(0.0, 0.0), (2.0, 0.0)] + [(2.0 + t, 1000.0 * t) for t in range(1, 10)] + [(20.0, 10_000.0)]
    assert crossing(samples, 1000.0) == pytest.approx(3.0)
    assert crossing(samples, 500.0) == pytest.approx(2.5)
    drain = drain_rate("worker", samples, total=10_000)
    assert drain.events_per_second == pytest.approx(1000.0, rel=0.13)  # the 9,000 -> 10,000 step is slow
    with pytest.raises(ValueError):
        crossing(samples, 20_000.0)


def test_medians_are_per_process_kind() -> None:
    runs = [Drain("worker", r, 1.0) for r in (100.0, 300.0, 200.0)] + [Drain("relay", 1000.0, 1.0)]
    result = ThroughputResult(10, 1, 1, 3, {}, runs)
    assert result.median("worker") == 200.0
    assert result.median("relay") == 1000.0


def test_latency_counts_only_arrivals_sent_in_the_window_and_says_which_went_unanswered() -> None:
    sent = {"d/a": 1.0, "d/b": 5.0, "d/c": 6.0, "d/late": 50.0}
    seen = {"d/a": 1.5, "d/b": 5.002, "d/late": 50.001}
    latencies, missing = measure(sent, seen, window=(4.0, 10.0))
    assert latencies == [pytest.approx(0.002)]
    assert missing == 1
    q = Percentiles.of([i / 1000.0 for i in range(1, 1001)])  # 1..1000 ms
    assert (q.count, q.p50_ms, q.p99_ms, q.p999_ms, q.max_ms) == (1000, 501.0, 991.0, 1000.0, 1000.0)
    assert Percentiles.of([]).count == 0


def test_soak_growth_is_measured_from_the_end_of_the_warm_up() -> None:
    mib = 2**20
    samples = [(0.0, 50 * mib, 0.0), (60.0, 90 * mib, 40.0), (180.0, 100 * mib, 7.0), (300.0, 102 * mib, 0.0), (600.0, 104 * mib, 3.0)]
    result = SoakResult(100.0, 2, closed_loop=False, minutes=10.0, events_sent=1, events_handled=1, samples=samples)
    assert result.warm_rss == 90 * mib  # the first sample at or after a tenth of the run
    assert result.growth == pytest.approx(104 / 90 - 1)
    assert result.second_half_growth == pytest.approx(104 / 102 - 1)
    assert result.max_lag == 40.0
    assert "+2.0% over the second half" in render(result) and "lag at most 40 records" in render(result)


def test_the_plots_are_drawn(tmp_path: Path) -> None:
    from benchmarks import plots

    runs = [Drain(k, r, 1.0) for k, r in (("relay", 9000.0), ("faust", 2000.0), ("2 faust", 3000.0), ("worker", 400.0), ("2 workers", 600.0))]
    plots.throughput(ThroughputResult(1000, 2, 12, 1, {}, runs), tmp_path / "t.png")
    q = Percentiles.of([0.004, 0.005])
    points = [RatePoint(100.0, 101.0, 2, path, q, 0) for path in ("worker", "relay (2 hops)", "raw (1 hop)", "no-op Faust (2 hops)")]
    plots.latency(points, tmp_path / "l.png")
    plots.soak(SoakResult(100.0, 2, True, 10.0, 1, 1, [(0.0, 2**20, 0.0), (60.0, 2**21, 9.0), (600.0, 2**21, -1.0)]), tmp_path / "s.png")
    for name in ("t.png", "l.png", "s.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_domains_rate_is_counted_inside_its_window_only() -> None:
    inputs = [(t, {}) for t in (0.0, 0.0, 0.0, 10.0, 20.0, 30.0, 40.0, 500.0)]
    assert events_per_second(inputs, 10.0, 50.0) == pytest.approx(4 / 40)
    with pytest.raises(ValueError):
        events_per_second(inputs, 10.0, 10.0)


def test_the_scraper_times_each_scrape_and_counts_the_failed_ones() -> None:
    import http.server
    import threading

    from benchmarks.latency import Scraper, render

    answers = iter([200, 500, 200])
    served = iter(range(1, 1000))

    class Metrics(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(next(answers, 200))
            self.end_headers()
            n = next(served)  # the worker's counters grow: 10 arrivals and 2 timers per scrape
            self.wfile.write(
                f'up 1\ncontact_router_events_total{{result="applied",type="contact.arrived"}} {10 * n}.0\n'
                f'contact_router_events_total{{result="applied",type="timer.fired"}} {2 * n}.0\n'
                f'contact_router_events_created{{result="applied",type="timer.fired"}} 1.7e9\n'.encode()
            )

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with Scraper(server.server_address[1], 0.02) as scraper:
            while len(scraper.durations) < 3:
                time.sleep(0.01)
    finally:
        server.shutdown()
    assert scraper.failed == 1
    assert scraper.median_ms() is not None and scraper.median_ms() > 0
    rates = scraper.event_rates(0.0, time.time())
    assert rates is not None and rates[1] > 0 and rates[0] == pytest.approx(6 * rates[1])
    assert scraper.event_rates(0.0, 1.0) is None  # no scrape then
    point = RatePoint(100.0, 101.0, 2, "worker", Percentiles.of([0.004]), 0, scraper.median_ms(), scraper.failed)
    assert render([point]).endswith(f"| {scraper.median_ms():.0f} (1) |  |  |  |")
    busy = RatePoint(100.0, 100.0, 2, "worker", Percentiles.of([0.004]), 0, None, 0, 0.5, 130.0, 30.0, 0.25)
    assert busy.cpu_us_per_event == 5000.0 and render([busy]).endswith("|  | 0.50, 5,000 | 130 (30) | 0.25 |")
    assert Scraper(1, 0).median_ms() is None  # never started: no scrape, no figure


def test_the_cpu_meter_tells_a_busy_process_from_an_idle_one() -> None:
    import subprocess
    import sys

    from benchmarks.latency import CpuMeter

    used = {}
    for name, code in (("busy", "while True: pass"), ("idle", "import time; time.sleep(60)")):
        child = subprocess.Popen([sys.executable, "-c", code])
        try:
            with CpuMeter(child.pid, interval=0.1) as meter:
                start = time.time()
                time.sleep(1.5)
            used[name] = meter.cores(start, time.time())
        finally:
            child.kill()
            child.wait()
    assert used["busy"] is not None and used["idle"] is not None
    assert used["busy"] > 0.2 > 0.05 > used["idle"]
    assert CpuMeter(child.pid).cores(0.0, 1.0) is None  # no samples: no figure


def test_without_a_pid_the_cpu_meter_reads_the_whole_machine() -> None:
    import os
    import subprocess
    import sys

    from benchmarks.latency import CpuMeter

    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        with CpuMeter(None, interval=0.1) as meter:
            start = time.time()
            time.sleep(1.5)
        busy = meter.cores(start, time.time())
    finally:
        child.kill()
        child.wait()
    assert busy is not None
    assert 0.5 < busy <= (os.cpu_count() or 1) + 0.1  # the spinning child alone keeps about one core busy


def test_the_throughput_table_sets_two_workers_beside_two_no_op_agents_and_the_busy_cores() -> None:
    from benchmarks.throughput import render as render_throughput

    runs = [
        Drain("relay", 9000.0, 1.0, machine_cores=1.2),
        Drain("faust", 2000.0, 1.0, machine_cores=1.1),
        Drain("2 faust", 3000.0, 1.0, [5000.0, 5000.0], machine_cores=1.9),
        Drain("worker", 1000.0, 1.0, machine_cores=1.3),
        Drain("2 workers", 1300.0, 1.0, [4900.0, 5100.0], machine_cores=1.95),
    ]
    table = render_throughput(ThroughputResult(10_000, 96, 12, 1, {"contact.arrived": 10_000}, runs))
    assert "| 2 no-op Faust agents | 3,000 | 33.3% | 150.0% | 1.90 |" in table
    assert "2 workers / 1 worker: 1.30x; 2 no-op Faust agents / 1: 1.50x" in table
    assert "Events per process in the 2 workers runs: 4,900 / 5,100" in table


def test_the_throughput_bench_refuses_a_process_it_does_not_know() -> None:
    from benchmarks.throughput import run

    with pytest.raises(ValueError, match="unknown processes"):
        run("127.0.0.1:1", "redis://127.0.0.1:1", scenario=Path("scenarios/demo.yaml"), events=1000, repeats=1,
            partitions=1, domains=1, port=1, kinds=["3 workers"])


def test_the_phased_rate_is_what_domains_started_at_random_phases_send_in_the_window() -> None:
    # A recording that is quiet for its first 60 s (1 event/s), then busy (4 events/s) up to 150 s.
    inputs = [(t / 1.0, {"type": "contact.arrived"}) for t in range(60)]
    inputs += [(60.0 + i / 4.0, {"type": "contact.arrived"}) for i in range(360)]
    warm_up, seconds, domains = 60.0, 30.0, 1500
    played = many_domains(inputs, domains, phase_seconds=warm_up)
    sent = sum(1 for e in played if warm_up <= e.at < warm_up + seconds) / seconds / domains
    # Phase p plays offsets [60 - p, 90 - p): p * 1 + (30 - p) * 4 events for p < 30, 30 after; mean 52.5.
    assert phased_rate(inputs, warm_up, warm_up, seconds) == pytest.approx(52.5 / seconds)
    assert sent == pytest.approx(52.5 / seconds, rel=0.05)  # 1,500 random phases
    assert events_per_second(inputs, warm_up, warm_up * 2 + seconds) == pytest.approx(4.0)  # the recording's steady part
    assert sent < 3.6
    assert phased_rate(inputs, 0.0, 70.0, 10.0) == pytest.approx(4.0)  # no phases: the recording's own rate
    with pytest.raises(ValueError):
        phased_rate(inputs, warm_up, warm_up, 0.0)


def test_the_closed_loop_window_opens_after_the_warm_up_and_runs_its_seconds() -> None:
    from benchmarks.latency import WARM_UP_SECONDS, Mark, window_marks

    # A mark every half second: 50 events sent and 40 decisions read per second.
    marks = [Mark(t / 2, 1000.0 + t / 2, 25 * t, 20 * t) for t in range(int(2 * (WARM_UP_SECONDS + 12)))]
    start, end = window_marks(marks, seconds=10.0)
    assert start.simulated == WARM_UP_SECONDS and end.simulated == WARM_UP_SECONDS + 10.0
    assert (end.sent - start.sent) / (end.wall - start.wall) == 50.0 and end.measured - start.measured == 400
    # A run that stopped short ends the window at its last mark; one that never got past the warm-up fails.
    assert window_marks(marks, seconds=60.0)[1] == marks[-1]
    with pytest.raises(RuntimeError, match="warm-up"):
        window_marks(marks[:10], seconds=10.0)
