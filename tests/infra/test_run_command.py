"""The bootstrap Run Command's building blocks: reading the files, embedding the settings, the digest name."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from automation.errors import ConfigError
from automation.manifest import MANIFEST_PATH
from infra.bootstrap_command import (
    BOOTSTRAP_SCRIPT_PATH,
    PLACEHOLDER,
    SCRIPT_PARAMETERS,
    BootstrapFiles,
    bootstrap_settings,
    embed_settings,
    read_bootstrap_files,
    run_command_name,
    script_digest,
    settings_json,
)
from infra.policy.predicates import embedded_settings
from infra.vault import CONTRACT_SECRET_NAMES as SECRET_NAMES

pytestmark = pytest.mark.infra

SCRIPT = f"param([string]$SettingsPath)\r\n$EmbeddedSettingsJson = @'\r\n{PLACEHOLDER}\r\n'@\r\nWrite-Output 1\r\n"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "script": tmp_path / "bootstrap.ps1",
        "manifest": tmp_path / "downloads.json",
        "installer": tmp_path / "installer.php",
    }
    paths["script"].write_bytes(b"\xef\xbb\xbf" + SCRIPT.encode("utf-8"))
    paths["manifest"].write_text(MANIFEST_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    paths["installer"].write_text("<?php echo 1;", encoding="utf-8")
    return paths


def read(paths: dict[str, Path]) -> BootstrapFiles:
    return read_bootstrap_files(paths["script"], paths["manifest"], paths["installer"])


CERT_SHA256 = "ab" * 32


def settings(
    files: BootstrapFiles, helpdesk: str = "St. Mary's IT \u2014 Help Desk", certificate: str = CERT_SHA256
) -> dict[str, object]:
    return bootstrap_settings(
        files=files,
        osticket_version="1.18.3",
        site_host_name="x.westeurope.cloudapp.azure.com",
        helpdesk_name=helpdesk,
        admin_username="ostadmin",
        admin_email="ostadmin@x",
        automation_source_ip="192.0.2.50",
        enable_db_access=False,
        vault_uri="https://ostops-kv-abc.vault.azure.net/",
        secret_names=SECRET_NAMES,
        certificate_sha256=certificate,
    )


def test_the_script_parameters_are_the_contract() -> None:
    assert SCRIPT_PARAMETERS == ("SettingsPath", "LogPath")


def test_files_are_read_with_the_bom_dropped_and_the_manifest_parsed(files: dict[str, Path]) -> None:
    bootstrap = read(files)
    # The entry (BOM dropped) comes first, then the install role's modules.
    assert bootstrap.script.startswith(SCRIPT + "\n")
    assert bootstrap.scripts["install"].count(PLACEHOLDER) == bootstrap.scripts["web"].count(PLACEHOLDER) == 1
    assert bootstrap.manifest == json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda raw: raw["downloads"]["php"].pop("verify"), "verify"),
        (lambda raw: raw["downloads"]["php"].update(url="http://example.org/php.zip"), "https"),
        (lambda raw: raw["downloads"]["php"].update(verify="sha256", sha256="unknown"), "unknown"),
    ],
)
def test_an_invalid_manifest_is_refused_at_program_time(
    files: dict[str, Path], edit: Callable[[dict[str, Any]], object], problem: str
) -> None:
    """The bootstrap would refuse it on the VM, after every resource exists: load_manifest refuses it first."""
    raw = json.loads(files["manifest"].read_text(encoding="utf-8"))
    edit(raw)
    files["manifest"].write_text(json.dumps(raw, indent=2), encoding="utf-8")
    with pytest.raises(ConfigError, match=problem) as caught:
        read(files)
    assert str(files["manifest"]) in str(caught.value) and "php" in str(caught.value)


@pytest.mark.parametrize("missing", ["script", "manifest", "installer"])
def test_a_missing_file_is_a_config_error_naming_it(files: dict[str, Path], missing: str) -> None:
    files[missing].unlink()
    with pytest.raises(ConfigError, match=str(files[missing])):
        read(files)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("param()\nWrite-Output 1\n", "is missing"),
        (f"$a = @'\n{PLACEHOLDER}\n'@\n$b = @'\n{PLACEHOLDER}\n'@\n", "appears 2 times"),
        (f"$a = '{PLACEHOLDER}'\n", "is not alone on its line"),
    ],
)
def test_the_placeholder_must_stand_once_alone(files: dict[str, Path], text: str, problem: str) -> None:
    files["script"].write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=problem) as caught:
        read(files)
    assert str(files["script"]) in str(caught.value)


def test_the_real_script_carries_the_placeholder_once() -> None:
    assert read_bootstrap_files().script.count(PLACEHOLDER) == 1


def test_settings_become_one_ascii_line_that_decodes_back(files: dict[str, Path]) -> None:
    bootstrap = read(files)
    wanted = settings(bootstrap)
    text = embed_settings(bootstrap.script, wanted)
    assert PLACEHOLDER not in text
    line = text.splitlines()[2]
    assert line == settings_json(wanted)
    assert line.isascii() and "\\u2014" in line and "'@" not in line
    assert json.loads(line) == wanted
    assert embedded_settings(text) == wanted
    # Everything else, line endings included, is untouched.
    assert text.replace(line, PLACEHOLDER) == bootstrap.script


def test_the_settings_follow_the_contract(files: dict[str, Path]) -> None:
    wanted = settings(read(files))
    assert wanted["schema"] == 1
    assert wanted["secrets"] == {
        "source": "keyvault",
        "vaultUri": "https://ostops-kv-abc.vault.azure.net/",
        "names": {
            "adminPassword": "osticket-admin-password",
            "dbRootPassword": "mariadb-root-password",
            "dbAppPassword": "mariadb-app-password",
            "apiKey": "osticket-api-key",
            "tlsPfx": "tls-pfx",
            "tlsPfxPassword": "tls-pfx-password",
        },
    }
    assert wanted["tls"] == {"enabled": True, "certificateSha256": CERT_SHA256}
    assert wanted["allowUnverifiedDownloads"] is False
    assert wanted["enableDbAccess"] is False


def test_the_run_command_name_carries_the_script_digest(files: dict[str, Path]) -> None:
    bootstrap = read(files)
    one = embed_settings(bootstrap.script, settings(bootstrap))
    other = embed_settings(bootstrap.script, settings(bootstrap, helpdesk="Another Desk"))
    assert run_command_name(one) == f"ostops-bootstrap-r0-{script_digest(one)}"
    assert len(script_digest(one)) == 12 and int(script_digest(one), 16) >= 0
    assert run_command_name(one) != run_command_name(other)
    # A new certificate is a new script, so a new Run Command that imports it.
    renewed = embed_settings(bootstrap.script, settings(bootstrap, certificate="cd" * 32))
    assert run_command_name(one) != run_command_name(renewed)
    assert run_command_name(one) == run_command_name(one)


def test_the_real_script_path_is_in_the_repository() -> None:
    assert BOOTSTRAP_SCRIPT_PATH.is_file()


def test_a_manifest_the_bootstrap_would_refuse_is_refused_before_anything_is_created() -> None:
    from automation.errors import ConfigError
    from infra.bootstrap_command import require_pinned_downloads

    manifest = {"downloads": {"php": {"sha256": "a" * 64}, "osticket": {"sha256": "unknown"},
                              "mariadb": {"sha256": "unknown"}}}
    with pytest.raises(ConfigError) as caught:
        require_pinned_downloads(manifest, "infra/bootstrap/downloads.json")
    message = str(caught.value)
    assert message.startswith("infra/bootstrap/downloads.json: osticket, mariadb have no pinned SHA-256")
    assert "ostops manifest hash --write --only osticket --only mariadb" in message
    require_pinned_downloads({"downloads": {"php": {"sha256": "a" * 64}}})


def test_the_program_checks_the_pins_before_it_builds_the_host() -> None:
    from infra.bootstrap_command import REPO_ROOT

    source = (REPO_ROOT / "infra" / "__main__.py").read_text(encoding="utf-8")
    assert source.index("require_pinned_downloads(files.manifest)") < source.index("OsTicketHost(")
