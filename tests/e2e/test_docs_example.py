"""The kcat example of docs/events.md, run as a user would paste it (topics renamed to the test's)."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.e2e.pipeline import Pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def kcat_example() -> str:
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(), flags=re.S)
    (example,) = [b for b in blocks if "kcat -P" in b]
    return example


async def test_the_kcat_example_gets_a_contact_routed(pipeline: Pipeline) -> None:
    assert shutil.which("kcat"), "kcat is missing: deploy/stack up installs it"
    script = kcat_example()
    for name, unique_name in pipeline.topics.items():
        script = re.sub(rf"-t {name}\b", f"-t {unique_name}", script)
    domain = f"kcat-{uuid.uuid4().hex[:6]}"
    script = script.replace("kcat-demo", domain).replace("127.0.0.1:9092", pipeline.bootstrap)
    for _ in range(20):
        result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
        if '"type":"contact.assigned"' in result.stdout:
            break
        await asyncio.sleep(1)
    assert '"agent_id":"alice"' in result.stdout and '"proficiency":4.0' in result.stdout, result.stderr
