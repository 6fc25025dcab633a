"""The bootstrap Run Command's building blocks: file reading, parameter lists and secrecy."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pulumi
import pytest

from automation.errors import ConfigError
from infra.bootstrap_command import (
    FILE_PARAMETERS,
    PLAIN_PARAMETERS,
    PROTECTED_PARAMETERS,
    BootstrapFiles,
    plain_parameter_args,
    protected_parameter_args,
    read_bootstrap_files,
)

pytestmark = pytest.mark.infra

PLAIN_VALUES = {name: f"value-of-{name}" for name in PLAIN_PARAMETERS if name not in FILE_PARAMETERS}
SECRET_VALUES = {name: f"secret-of-{name}" for name in PROTECTED_PARAMETERS}


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "script": tmp_path / "bootstrap.ps1",
        "manifest": tmp_path / "downloads.json",
        "installer": tmp_path / "installer.php",
    }
    paths["script"].write_bytes(b"\xef\xbb\xbfparam([string]$OsTicketVersion)\n")
    paths["manifest"].write_text('{"downloads": {}}', encoding="utf-8")
    paths["installer"].write_text("<?php echo 1;", encoding="utf-8")
    return paths


def read(paths: dict[str, Path]) -> BootstrapFiles:
    return read_bootstrap_files(paths["script"], paths["manifest"], paths["installer"])


def test_the_parameter_lists_are_the_contract() -> None:
    assert PLAIN_PARAMETERS == (
        "OsTicketVersion",
        "SiteHostName",
        "HelpdeskName",
        "AdminUsername",
        "AdminEmail",
        "AutomationSourceIp",
        "EnableDbAccess",
        "ManifestBase64",
        "InstallerBase64",
    )
    assert PROTECTED_PARAMETERS == ("AdminPassword", "DbRootPassword", "DbAppPassword", "ApiKey")
    assert not set(PLAIN_PARAMETERS) & set(PROTECTED_PARAMETERS)


def test_files_are_read_with_the_bom_dropped_and_shipped_as_base64(files: dict[str, Path]) -> None:
    bootstrap = read(files)
    assert bootstrap.script == "param([string]$OsTicketVersion)\n"
    assert base64.b64decode(bootstrap.manifest_base64) == files["manifest"].read_bytes()
    assert base64.b64decode(bootstrap.installer_base64) == files["installer"].read_bytes()


@pytest.mark.parametrize("missing", ["script", "manifest", "installer"])
def test_a_missing_file_is_a_config_error_naming_it(files: dict[str, Path], missing: str) -> None:
    files[missing].unlink()
    with pytest.raises(ConfigError, match=str(files[missing])):
        read(files)


@pytest.mark.parametrize("changed", ["script", "manifest", "installer"])
def test_the_digest_follows_every_shipped_file(files: dict[str, Path], changed: str) -> None:
    before = read(files).digest
    files[changed].write_bytes(files[changed].read_bytes() + b"\n# changed")
    after = read(files).digest
    assert before != after
    assert len(after) == 12


def test_plain_parameters_come_in_contract_order_with_the_files_added(files: dict[str, Path]) -> None:
    bootstrap = read(files)
    args = plain_parameter_args(PLAIN_VALUES, bootstrap)
    assert [arg.name for arg in args] == list(PLAIN_PARAMETERS)
    values = {arg.name: arg.value for arg in args}
    assert values["ManifestBase64"] == bootstrap.manifest_base64
    assert values["InstallerBase64"] == bootstrap.installer_base64
    assert values["SiteHostName"] == "value-of-SiteHostName"


def test_a_missing_or_unexpected_plain_parameter_is_refused(files: dict[str, Path]) -> None:
    bootstrap = read(files)
    missing = {k: v for k, v in PLAIN_VALUES.items() if k != "SiteHostName"}
    with pytest.raises(ValueError, match="missing \\['SiteHostName'\\]"):
        plain_parameter_args(missing, bootstrap)
    with pytest.raises(ValueError, match="unexpected \\['AdminPassword'\\]"):
        plain_parameter_args({**PLAIN_VALUES, "AdminPassword": "x"}, bootstrap)


def test_a_missing_protected_parameter_is_refused() -> None:
    with pytest.raises(ValueError, match="missing \\['ApiKey'\\]"):
        protected_parameter_args({k: v for k, v in SECRET_VALUES.items() if k != "ApiKey"})


@pulumi.runtime.test
def test_every_protected_value_is_a_pulumi_secret() -> pulumi.Output[list[bool]]:
    args = protected_parameter_args(SECRET_VALUES)
    assert [arg.name for arg in args] == list(PROTECTED_PARAMETERS)
    values = [pulumi.Output.from_input(arg.value) for arg in args]

    async def secrecy() -> list[bool]:
        flags = [await value.is_secret() for value in values]
        assert all(flags), flags
        return flags

    return pulumi.Output.from_input(asyncio.ensure_future(secrecy()))
