"""Prometheus file-based service discovery for local runs: the demo writes its workers' metrics
ports here and the local Prometheus (deploy/stack) scrapes whatever the file lists."""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_targets(path: Path, ports: list[int], host: str = "127.0.0.1") -> None:
    """Replace the targets file; written whole then renamed, so Prometheus never reads half of it.

    An empty list when the workers stop: otherwise Prometheus keeps scraping dead ports and pages
    on-call with ContactRouterWorkerDown after the demo ends.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    groups = [{"targets": [f"{host}:{port}" for port in ports], "labels": {}}] if ports else []
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(groups, indent=2) + "\n")
    os.replace(tmp, path)
