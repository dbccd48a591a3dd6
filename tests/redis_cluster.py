"""A throwaway three-node Redis Cluster on loopback, for the cluster tests: three redis-server
processes in cluster mode (client ports 39100-39102, cluster-bus ports 39103-39105, the range given
to these tests), joined with `redis-cli --cluster create`, in a temporary directory removed after.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PORTS = (39100, 39101, 39102)
BUS_PORTS = (39103, 39104, 39105)


@dataclass(frozen=True)
class Cluster:
    ports: tuple[int, ...]

    @property
    def url(self) -> str:
        """A seed node: the client learns the others (and the slot map) from it."""
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def cli(self, *args: str, port: int | None = None) -> str:
        """One redis-cli command against a node (the first by default); its output."""
        cmd = ["redis-cli", "-h", "127.0.0.1", "-p", str(port or self.ports[0]), *args]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=30).stdout


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _wait(condition, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} within {timeout:.0f} s")


@contextmanager
def redis_cluster() -> Iterator[Cluster]:
    """Three primaries with all 16384 slots, no replicas, no persistence; stopped and removed after."""
    busy = [p for p in PORTS + BUS_PORTS if _port_open(p)]
    if busy:
        raise RuntimeError(f"ports {busy} are taken: a cluster from an earlier run still running?")
    root = Path(tempfile.mkdtemp(prefix="cr-cluster-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for port, bus in zip(PORTS, BUS_PORTS, strict=True):
            node = root / str(port)
            node.mkdir()
            log = (node / "redis.log").open("wb")
            procs.append(
                subprocess.Popen(
                    [
                        "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                        "--cluster-port", str(bus), "--cluster-config-file", str(node / "nodes.conf"),
                        "--cluster-node-timeout", "5000", "--dir", str(node), "--save", "", "--appendonly", "no",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
        for port, proc in zip(PORTS, procs, strict=True):
            _wait(lambda p=port, pr=proc: pr.poll() is None and _port_open(p), 15, f"redis-server did not open {port}")
        cluster = Cluster(PORTS)
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in PORTS),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        _wait(
            lambda: all("cluster_state:ok" in cluster.cli("cluster", "info", port=p) for p in PORTS),
            30,
            "the cluster did not reach cluster_state:ok",
        )
        yield cluster
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(root, ignore_errors=True)
