"""JSON Schemas of the seed and scenario files and of the instance file, generated from their models into
``seed/schema/``.

Regenerate with ``python -m automation.schemas`` (a test fails while the committed files differ)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from automation.instance import Instance
from automation.scenarios.models import Scenario
from automation.seeding.models import SeedFile

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "seed" / "schema"
MODELS: dict[str, type[BaseModel]] = {
    "seed.schema.json": SeedFile,
    "scenario.schema.json": Scenario,
    "instance.schema.json": Instance,
}


def generate(name: str) -> str:
    schema = MODELS[name].model_json_schema(by_alias=True)
    header = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "$id": f"https://ostops.invalid/seed/schema/{name}"}
    return json.dumps({**header, **schema}, indent=2) + "\n"


def write_all(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in MODELS:
        path = directory / name
        path.write_text(generate(name), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_all():
        print(path)
