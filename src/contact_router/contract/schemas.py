"""JSON Schemas of the envelope and every event payload, for platforms written in any language."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from contact_router.contract.envelope import SCHEMA_VERSION, Envelope
from contact_router.contract.events import INPUT_TYPES, OUTPUT_TYPES


def all_schemas() -> dict[str, dict[str, Any]]:
    """File name -> schema, for the envelope and each event type's `data`."""
    schemas = {"envelope.json": Envelope.model_json_schema()}
    for direction, types in (("input", INPUT_TYPES), ("output", OUTPUT_TYPES)):
        for name, model in types.items():
            schema = model.model_json_schema()
            schema["title"] = name
            schema["x-direction"] = direction
            schema["x-schema-version"] = SCHEMA_VERSION
            schemas[f"{name}.json"] = schema
    return schemas


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in all_schemas().items():
        path = directory / name
        path.write_text(render(schema))
        written.append(path)
    return written
