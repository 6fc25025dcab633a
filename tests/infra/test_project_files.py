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


def test_docs_say_who_may_deploy_a_role_assignment(default_run: ProgramRun) -> None:
    """The program creates a RoleAssignment: Contributor cannot, and Azure says so only mid-deployment."""
    assert default_run.of_type("azure-native:authorization:RoleAssignment")
    docs = (REPO_ROOT / "docs" / "azure.md").read_text(encoding="utf-8")
    before_you_start = docs.split("## Before you start", 1)[1].split("\n## ", 1)[0]
    assert "Microsoft.Authorization/roleAssignments/write" in before_you_start
    for role in ("Owner", "User Access Administrator", "Role Based Access Control Administrator"):
        assert role in before_you_start, role
    assert "learn.microsoft.com/azure/role-based-access-control/" in before_you_start


INFRA_MODULES = [
    "infra.config",
    "infra.vm",
    "infra.passwords",
    "infra.tls",
    "infra.vault",
    "infra.network",
    "infra.bootstrap_command",
    "infra.host",
    "infra.lab_client",
    "infra.outputs",
    "infra.policy.predicates",
]


@pytest.mark.parametrize("module", INFRA_MODULES)
def test_each_infra_module_imports_on_its_own(module: str) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        check=False,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_host_and_lab_client_do_not_import_each_other() -> None:
    host = (REPO_ROOT / "infra" / "host.py").read_text(encoding="utf-8")
    lab = (REPO_ROOT / "infra" / "lab_client.py").read_text(encoding="utf-8")
    assert "lab_client" not in host
    assert "infra.host" not in lab
