"""Private servers a run may restart: a Kafka broker (one KRaft node from the stack's jars) and a
redis-server, each with its data in a directory of its own, on loopback ports the caller chooses.

The shared Kafka and Redis (deploy/stack) serve everyone on the machine and must never be restarted;
a run that restarts its servers on purpose (the chaos run) or configures them otherwise (the secured
connections test, tests/integration/secured_servers.py) starts these.

Restarting a server whose port is in the ephemeral range (32768-60999 on Linux) on 127.0.0.1 can
fail: clients reconnecting in a loop while it is down may be given that very port as their own and
connect to themselves (TCP simultaneous open), and the server cannot bind again while they hold it.
A client's source address towards 127.0.0.2 is 127.0.0.1, so a server on `host="127.0.0.2"` cannot
be taken that way.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_port(
    port: int, timeout: float, what: str, proc: subprocess.Popen[bytes], log: Path, host: str = "127.0.0.1"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        if port_open(port, host):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not open {host}:{port} within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[bytes], timeout: float = 15.0, *, kill: bool = False) -> None:
    """SIGTERM (the server shuts down cleanly), SIGKILL if it takes longer than `timeout`; `kill`:
    SIGKILL at once, as a crash would."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def kafka_libs() -> Path:
    """The stack's Kafka jars (deploy/stack's kafka_jars): resolved by Maven once, then reused.
    CONTACT_ROUTER_KAFKA_LIBS points elsewhere (e.g. another checkout's deploy/.cache/kafka-libs)."""
    libs = Path(os.environ.get("CONTACT_ROUTER_KAFKA_LIBS", ROOT / "deploy" / ".cache" / "kafka-libs"))
    if not (libs / ".complete").exists():
        if shutil.which("mvn") is None:
            raise RuntimeError("no Kafka jars and no mvn: run `deploy/stack up` once")
        subprocess.run(
            ["mvn", "-q", "-B", "-f", str(ROOT / "deploy" / "kafka" / "pom.xml"), "dependency:copy-dependencies",
             f"-DoutputDirectory={libs}"],
            check=True, capture_output=True,
        )  # fmt: skip
        (libs / ".complete").touch()
    return libs


class PrivateKafka:
    """One KRaft node (broker and controller) with a PLAINTEXT listener on loopback. `stop` then
    `start` restarts it on the same data: topics, records and committed offsets survive. Subclasses
    change the listeners (`listener_properties`) and what the storage is formatted with."""

    cluster_id = "private-cluster-0001"

    def __init__(self, workdir: Path, port: int, controller_port: int, host: str = "127.0.0.1") -> None:
        self.workdir = workdir
        self.port = port
        self.controller_port = controller_port
        self.host = host
        self.bootstrap = f"{host}:{port}"
        self.log = workdir / "kafka.out"
        self.proc: subprocess.Popen[bytes] | None = None
        self._formatted = False

    def _java(self) -> list[str]:
        return [
            "java", "-Xmx512m", "-Xms128m", "-XX:+UseG1GC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{ROOT / 'deploy' / 'kafka' / 'log4j.properties'}",
            f"-Dkafka.logs.dir={self.workdir / 'logs'}", "-cp", f"{kafka_libs()}/*",
        ]  # fmt: skip

    def listener_properties(self) -> str:
        h = self.host
        return f"""listeners=PLAINTEXT://{h}:{self.port},CONTROLLER://{h}:{self.controller_port}
advertised.listeners=PLAINTEXT://{h}:{self.port}
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
"""

    def format_arguments(self) -> list[str]:
        """Extra arguments to the storage format (e.g. SCRAM users)."""
        return []

    def _properties(self) -> Path:
        props = self.workdir / "kafka.properties"
        props.write_text(
            f"""process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{self.host}:{self.controller_port}
controller.listener.names=CONTROLLER
{self.listener_properties()}log.dirs={self.workdir / "data"}
num.partitions=2
offsets.topic.replication.factor=1
offsets.topic.num.partitions=2
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
"""
        )
        return props

    def start(self, timeout: float = 90.0) -> None:
        if port_open(self.port, self.host) or port_open(self.controller_port, self.host):
            raise RuntimeError(f"{self.host}:{self.port} or :{self.controller_port} is taken: another run using them?")
        self.workdir.mkdir(parents=True, exist_ok=True)
        props = self._properties()
        if not self._formatted:
            subprocess.run(
                [*self._java(), "kafka.tools.StorageTool", "format", "-t", self.cluster_id, "-c", str(props),
                 *self.format_arguments()],
                check=True, capture_output=True,
            )  # fmt: skip
            self._formatted = True
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*self._java(), "kafka.Kafka", str(props)], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        wait_port(self.port, timeout, "kafka", self.proc, self.log, self.host)

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is not None:
            # A controlled shutdown of a single node takes a few seconds; give it time before SIGKILL.
            stop(self.proc, timeout=60.0, kill=kill)
            self.proc = None
        # The next start must find the ports free (the JVM may linger a moment after exiting).
        deadline = time.monotonic() + 30
        while (port_open(self.port, self.host) or port_open(self.controller_port, self.host)) and time.monotonic() < deadline:
            time.sleep(0.2)


class PrivateRedis:
    """redis-server on loopback with its data in `workdir`; `appendonly` keeps every write in the
    append-only file (fsynced every second), so a restart (`stop`, `start`) reloads the state."""

    def __init__(self, workdir: Path, port: int, *, host: str = "127.0.0.1", appendonly: bool = True) -> None:
        self.workdir = workdir
        self.port = port
        self.host = host
        self.appendonly = appendonly
        self.url = f"redis://{host}:{port}/0"
        self.log = workdir / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is missing: deploy/stack up installs it")
        if port_open(self.port, self.host):
            raise RuntimeError(f"{self.host}:{self.port} is taken: another run using it?")
        self.workdir.mkdir(parents=True, exist_ok=True)
        aof = ["--appendonly", "yes", "--appendfsync", "everysec"] if self.appendonly else ["--appendonly", "no"]
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", self.host, "--port", str(self.port), "--dir", str(self.workdir),
             "--save", "", *aof, "--logfile", str(self.log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.log.touch()
        wait_port(self.port, timeout, "redis-server", self.proc, self.log, self.host)

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM: Redis fsyncs the append-only file and exits; `kill`: the last second may be lost."""
        if self.proc is not None:
            stop(self.proc, timeout=30.0, kill=kill)
            self.proc = None
