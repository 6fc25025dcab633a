"""Pulumi.yaml, the example stack config and docs/azure.md agree with the program."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from infra.config import CONFIG_NAMESPACE, KNOWN_KEYS
from tests.infra.conftest import REPO_ROOT, ProgramRun

pytestmark = pytest.mark.infra


def test_pulumi_yaml_points_at_the_infra_program() -> None:
    project: dict[str, Any] = yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text(encoding="utf-8"))
    assert project["name"] == CONFIG_NAMESPACE
    assert project["main"].rstrip("/") == "infra"
    assert project["runtime"]["name"] == "python"
    assert (REPO_ROOT / project["runtime"]["options"]["virtualenv"]).resolve() == (
        REPO_ROOT / ".venv"
    ).resolve()
    assert (REPO_ROOT / "infra" / "__main__.py").is_file()


def test_no_real_stack_file_is_committed_by_this_change() -> None:
    example = yaml.safe_load((REPO_ROOT / "Pulumi.example.yaml").read_text(encoding="utf-8"))
    assert set(example) == {"config"}
    assert all(not isinstance(v, dict) or "secure" not in v for v in example["config"].values())


def test_docs_list_every_output_and_config_key(program_runs: dict[str, ProgramRun]) -> None:
    docs = (REPO_ROOT / "docs" / "azure.md").read_text(encoding="utf-8")
    outputs = set().union(*(run.outputs for run in program_runs.values()))
    assert not [key for key in outputs if f"`{key}`" not in docs]
    assert not [key for key in KNOWN_KEYS if f"ostops:{key}" not in docs and f"`{key}`" not in docs]
    assert "--policy-pack infra/policy" in docs
