"""The committed JSON Schema is the one generated from the models."""

from __future__ import annotations

import json

from automation.seeding.schema import SCHEMA_PATH, generate


def test_committed_schema_matches_models() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == generate(), \
        "run: python -m automation.seeding.schema"


def test_schema_forbids_unknown_fields() -> None:
    schema = json.loads(generate())
    assert schema["additionalProperties"] is False
    assert schema["$defs"]["Agent"]["additionalProperties"] is False
    assert "password" not in schema["$defs"]["Agent"]["properties"]
    assert set(schema["properties"]) >= {"settings", "slas", "departments", "agents", "teams", "help_topics",
                                         "api_keys", "users"}
