"""The JSON Schema of seed files, generated from the models: ``python -m automation.seeding.schema``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from automation.seeding.models import SeedFile

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "seed" / "schema" / "seed.schema.json"
SCHEMA_ID = "https://ostops.invalid/seed/schema/seed.schema.json"


def generate() -> str:
    schema = SeedFile.model_json_schema()
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
    return json.dumps(schema, indent=2, sort_keys=False) + "\n"


def write(path: Path = SCHEMA_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(generate(), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write(Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_PATH))
