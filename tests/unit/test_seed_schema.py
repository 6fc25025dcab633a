"""The committed JSON Schemas are the ones generated from the models."""

from __future__ import annotations

import json

import pytest

from automation.schemas import MODELS, SCHEMA_DIR, generate


@pytest.mark.parametrize("name", sorted(MODELS))
def test_committed_schema_matches_models(name: str) -> None:
    assert (SCHEMA_DIR / name).read_text(encoding="utf-8") == generate(name), "run: python -m automation.schemas"


def test_seed_schema_forbids_unknown_fields() -> None:
    schema = json.loads(generate("seed.schema.json"))
    assert schema["additionalProperties"] is False
    assert schema["$defs"]["Agent"]["additionalProperties"] is False
    assert "password" not in schema["$defs"]["Agent"]["properties"]
    assert set(schema["properties"]) >= {"settings", "slas", "departments", "agents", "teams", "help_topics",
                                         "api_keys", "users"}


def test_scenario_schema_uses_the_file_spelling() -> None:
    schema = json.loads(generate("scenario.schema.json"))
    assert schema["additionalProperties"] is False
    step = schema["$defs"]["ChangeSla"]
    assert "as" in step["properties"] and "actor" not in step["properties"]
    assert set(step["required"]) == {"as", "do", "sla"}
