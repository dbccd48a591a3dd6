"""Start, watch and stop worker processes: used by the demo command and the end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def start_worker(index: int, *, metrics_port: int, log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """A `contact-router worker` process with its own metrics port and Faust data directory."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    child_env = {
        **os.environ,
        **(env or {}),
        "CONTACT_ROUTER_METRICS_PORT": str(metrics_port),
        "CONTACT_ROUTER_DATA_DIR": str(log_path.parent / f"worker-{index}-data"),
    }
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "contact_router.cli", "worker"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=child_env,
        )


def metric_value(port: int, name: str) -> float | None:
    """One unlabelled sample from a worker's /metrics, or None when it does not answer yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def wait_until_routing(ports: list[int], processes: list[subprocess.Popen[bytes]], timeout: float = 90.0) -> None:
    """Until every worker owns input partitions (the consumer group has settled), or raise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in processes:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited with code {proc.returncode}")
        owned = [metric_value(p, "contact_router_assigned_partitions") for p in ports]
        if all(v is not None and v > 0 for v in owned):
            return
        time.sleep(0.5)
    raise TimeoutError(f"workers did not own partitions within {timeout:.0f} s")


def stop_workers(processes: list[subprocess.Popen[bytes]], timeout: float = 30.0) -> None:
    """SIGTERM (Faust shuts down cleanly, committing offsets), then SIGKILL whatever is left."""
    for proc in processes:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in processes:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
