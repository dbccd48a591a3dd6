"""A real Prometheus and a real Alertmanager for tests, from the binaries deploy/stack installs
(Debian's prometheus and prometheus-alertmanager), loading the repository's rules and routing.

What the tests change, and only that: addresses (their own ports, the test's webhook receiver), how
often Prometheus scrapes and evaluates, and how long Alertmanager waits before sending a new group.
The rule expressions, their `for:` durations, the routing tree and the inhibitions are the repo's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "prometheus" / "rules"
ALERTMANAGER_YML = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"


def binary(*names: str) -> str:
    for name in names:
        if path := shutil.which(name):
            return path
    pytest.fail(f"{names[0]} is missing: `deploy/stack up` installs it (Debian's prometheus packages)", pytrace=False)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def post_json(url: str, body: Any) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5):
        pass


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} not ready within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def alertmanager_config(webhook_port: int, group_wait: str = "1s") -> dict[str, Any]:
    """The repo's routing, sending to a local webhook receiver, grouping without the 30 s default wait."""
    config = yaml.safe_load(ALERTMANAGER_YML.read_text())
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            path = hook["url"].split("/", 3)[3]  # http://host:port/<path>
            hook["url"] = f"http://127.0.0.1:{webhook_port}/{path}"
    config["route"] |= {"group_wait": group_wait, "group_interval": "5s"}
    return config


def prometheus_config(targets: list[str], alertmanager_port: int, interval: str = "1s") -> dict[str, Any]:
    """The repo's rule files and job name; static targets; scrape and evaluate every `interval`."""
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(RULES / "*.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]},
        "scrape_configs": [{"job_name": "contact-router", "static_configs": [{"targets": targets}]}],
    }


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def _running(name: str, command: list[str], port: int, config: dict[str, Any], workdir: Path) -> Iterator[str]:
    """Write `name`.yml, start the server on 127.0.0.1:port with its log in workdir; yield its URL."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{name}.yml").write_text(yaml.safe_dump(config))
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url + "/-/ready", proc, log)
        yield url
    finally:
        _stop(proc)


def running_alertmanager(port: int, config: dict[str, Any], workdir: Path) -> AbstractContextManager[str]:
    """Alertmanager on 127.0.0.1:port, without clustering; yields its base URL."""
    command = [
        binary("prometheus-alertmanager", "alertmanager"), f"--config.file={workdir / 'alertmanager.yml'}",
        f"--storage.path={workdir / 'alertmanager-data'}", f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]  # fmt: skip
    return _running("alertmanager", command, port, config, workdir)


def running_prometheus(port: int, config: dict[str, Any], workdir: Path) -> AbstractContextManager[str]:
    """Prometheus on 127.0.0.1:port with its data in workdir; yields its base URL."""
    command = [
        binary("prometheus"), f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'prometheus-data'}", f"--web.listen-address=127.0.0.1:{port}",
    ]  # fmt: skip
    return _running("prometheus", command, port, config, workdir)
