"""What `deploy/stack up` started for monitoring, as the demo needs it: where to write the workers'
targets, and where a person should look. The stack writes it to `<run dir>/monitoring.json`."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path

INFO_FILE = "monitoring.json"
TARGETS_FILE = "prometheus-targets.json"


@dataclass(frozen=True)
class LocalMonitoring:
    prometheus: str  # base URLs, e.g. http://127.0.0.1:9090
    alertmanager: str
    webhook: str
    alerts_log: Path
    targets_file: Path

    @classmethod
    def load(cls, run_dir: Path) -> LocalMonitoring | None:
        """What the stack recorded in `run_dir`, or None when it started no monitoring there."""
        path = run_dir / INFO_FILE
        if not path.is_file():
            return None
        raw = json.loads(path.read_text())
        return cls(raw["prometheus"], raw["alertmanager"], raw["webhook"], Path(raw["alerts_log"]),
                   Path(raw["targets_file"]))


def answers(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def where_to_look(monitoring: LocalMonitoring | None, stack_hint: str = "deploy/stack up") -> list[str]:
    """The lines the demo prints about Prometheus, Alertmanager and the alerts received."""
    compose = "under docker compose: Grafana http://localhost:3000, Prometheus :9090, Alertmanager :9093"
    if monitoring is None:
        return [f"Prometheus and Alertmanager: not started here ({stack_hint} starts them)", compose]

    def state(url: str) -> str:
        return "" if answers(url) else "   (not answering: see `deploy/stack status`)"

    p, a = monitoring.prometheus, monitoring.alertmanager
    return [
        f"Prometheus      {p}/alerts   targets: {p}/targets{state(p + '/-/ready')}",
        f"Alertmanager    {a}/api/v2/alerts   or: amtool --alertmanager.url={a} alert query{state(a + '/-/ready')}",
        f"alerts received {monitoring.alerts_log}   (tail -f; pages go to on-call, warnings to supervisors)"
        f"{state(monitoring.webhook + '/')}",
        compose,
    ]
