"""Refactoring keeps every resource of an existing stack: the URNs the mocks saw before the shared components
(``WindowsMachine``, infra/site.py, infra/network.py's helpers) were introduced are in
tests/infra/data/tier_resources.json; each is still a URN of the program, or is named by an alias of the
resource that moved (so ``pulumi up`` on an existing stack renames it in state instead of replacing it).
The backup storage (``BackupStorage`` and its children, infra/backup.py) came from another branch at the same
time: its URNs were appended to the snapshot as they are, the URNs taken before left as they were."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra import bootstrap_command
from tests.infra.conftest import BASE_CONFIG, GIVEN_SECRETS, ProgramRun, run_program
from tests.infra.test_production_tier import PRODUCTION, PRODUCTION_SECRETS

pytestmark = pytest.mark.infra

BEFORE = Path(__file__).parent / "data" / "tier_resources.json"
# The configs the snapshot was taken with (key → config, secrets).
CONFIGS: dict[str, tuple[dict[str, str], dict[str, str] | None]] = {
    "lab": (BASE_CONFIG, None),
    "lab-client": ({**BASE_CONFIG, "labClient": "true", "enableDbAccess": "true"}, GIVEN_SECRETS),
    "production": (PRODUCTION, None),
    "production-sized": (
        {**PRODUCTION, "alertEmail": "ops@example.com", "webMaxInstances": "6"}, PRODUCTION_SECRETS
    ),
}
NEW_COMPONENTS = {"ostops:infra:WindowsMachine"}


@pytest.fixture(scope="module")
def tier_runs(bootstrap_paths: dict[str, Path]) -> Iterator[dict[str, ProgramRun]]:
    patcher = pytest.MonkeyPatch()
    patcher.setattr(bootstrap_command, "BOOTSTRAP_SCRIPT_PATH", bootstrap_paths["script"])
    patcher.setattr(bootstrap_command, "INSTALLER_PATH", bootstrap_paths["installer"])
    try:
        yield {key: run_program(config, secrets) for key, (config, secrets) in CONFIGS.items()}
    finally:
        patcher.undo()


def before(key: str) -> list[str]:
    urns: list[str] = json.loads(BEFORE.read_text(encoding="utf-8"))[key]
    return urns


def type_and_name(urn: str) -> tuple[str, str]:
    return urn.split("::")[2].split("$")[-1], urn.split("::", 3)[3]


@pytest.mark.parametrize("key", list(CONFIGS))
def test_every_resource_keeps_its_type_and_name(tier_runs: dict[str, ProgramRun], key: str) -> None:
    now = {(r.type, r.name) for r in tier_runs[key].resources if r.type not in NEW_COMPONENTS}
    assert now == {type_and_name(urn) for urn in before(key)}


@pytest.mark.parametrize("key", list(CONFIGS))
def test_every_resource_keeps_its_urn_or_aliases_it(tier_runs: dict[str, ProgramRun], key: str) -> None:
    run = tier_runs[key]
    known = {r.urn for r in run.resources}
    for resource in run.resources:
        assert resource.options is not None, resource.name
        known.update(resource.options.alias_urns)
    lost = sorted(set(before(key)) - known)
    assert lost == [], "these would be deleted and created again on an existing stack"


@pytest.mark.parametrize("key", list(CONFIGS))
def test_the_production_tier_is_untouched_and_only_moved_resources_alias(
    tier_runs: dict[str, ProgramRun], key: str
) -> None:
    run = tier_runs[key]
    # The SDK aliases every azure-native resource to its API-versioned types itself; a move keeps type and name.
    moved = {
        r.urn for r in run.resources
        if r.options and any(type_and_name(a) == (r.type, r.name) and a != r.urn for a in r.options.alias_urns)
    }
    changed = {r.urn for r in run.resources if r.urn not in set(before(key)) and r.type not in NEW_COMPONENTS}
    assert moved == changed
    if key.startswith("production"):
        assert sorted(r.urn for r in run.resources) == sorted(before(key))
