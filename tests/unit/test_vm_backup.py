"""Issue 21: the Azure VM's nightly backup zip (86-backup.ps1, Invoke-OstopsBackup) read and checked by ostops:
every part against the manifest's SHA-256, the manifest's shape, the PowerShell's keys kept equal to the model."""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from automation.cli import cli, exit_code_for
from automation.errors import BackupRejected, UsageError
from automation.operations import vm_backup
from automation.operations.vm_backup import VmManifest

SCRIPT = Path(__file__).resolve().parents[2] / "infra/bootstrap/modules/86-backup.ps1"
DUMP = ("-- MariaDB dump 10.19\n/*!40101 SET NAMES utf8mb4 */;\n"
        "INSERT INTO `ost_ticket__cdata` VALUES (1,'Crème brûlée & <café> \"naïve\" 日本語');\n").encode()
CONFIG = (b"<?php\ndefine('OSTINSTALLED',TRUE);\ndefine('SECRET_SALT','s4lt-K33p-M3');\n"
          b"define('DBHOST','localhost');\ndefine('DBNAME','osticket');\ndefine('DBUSER','osticket');\n"
          b"define('DBPASS','pw');\ndefine('TABLE_PREFIX','ost_');\n")


def manifest_for(parts: dict[str, bytes]) -> dict[str, object]:
    """As Invoke-OstopsBackup builds it: an ordered hashtable, sha256 of both parts in lowercase hex."""
    return {"createdUtc": "2026-12-06T02:00:03.1234567Z", "reason": "nightly", "osTicketVersion": "1.18.1",
            "schemaSignature": "5fb92bef17f3b603659e024c01cc7a59", "rows": {"ost_ticket": 3, "ost_staff": 1},
            "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in parts.items()}}


def write_zip(path: Path, parts: dict[str, bytes], manifest: dict[str, object] | bytes) -> Path:
    """ZipFile.CreateFromDirectory over the parts folder: every file at the zip's root, deflated; the manifest
    as ConvertTo-Json writes it in Windows PowerShell 5.1 (' escaped as \\u0027, UTF-8 without BOM)."""
    text = manifest if isinstance(manifest, bytes) else json.dumps(manifest, indent=4).replace("'", "\\u0027").encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, data in {**parts, "manifest.json": text}.items():
            zipped.writestr(name, data)
    return path


def good(tmp_path: Path) -> Path:
    parts = {"osticket.sql": DUMP, "ost-config.php": CONFIG}
    return write_zip(tmp_path / "osticket-vm-20261206T020000Z-nightly.zip", parts, manifest_for(parts))


def rejected(path: Path) -> BackupRejected:
    with pytest.raises(BackupRejected) as caught:
        vm_backup.open_vm_backup(path)
    assert exit_code_for(caught.value) == 1
    return caught.value


def test_a_backup_laid_out_as_the_powershell_does_is_read_whole(tmp_path: Path) -> None:
    path = good(tmp_path)
    assert vm_backup.is_vm_backup(path)
    opened = vm_backup.open_vm_backup(path)
    assert opened.sql == DUMP and opened.config_php == CONFIG
    assert opened.manifest.rows == {"ost_ticket": 3, "ost_staff": 1}
    assert opened.manifest.osticket_version == "1.18.1"


def test_recognised_by_content_not_by_name(tmp_path: Path) -> None:
    renamed = good(tmp_path).rename(tmp_path / "helpdesk.age")
    assert vm_backup.is_vm_backup(renamed)
    age = tmp_path / "backup.zip"
    age.write_bytes(b"age-encryption.org/v1\n-> scrypt ...")
    assert not vm_backup.is_vm_backup(age)


def test_a_flipped_byte_in_the_dump_is_refused_naming_the_part(tmp_path: Path) -> None:
    parts = {"osticket.sql": DUMP, "ost-config.php": CONFIG}
    manifest = manifest_for(parts)
    path = write_zip(tmp_path / "b.zip", {**parts, "osticket.sql": DUMP.replace(b"10.19", b"10.18", 1)}, manifest)
    error = rejected(path)
    assert "nothing was restored" in str(error)
    assert [p for p in error.problems if p.startswith("osticket.sql: SHA-256")], error.problems


def test_every_flipped_byte_of_a_stored_part_is_refused_or_reads_back_unchanged(tmp_path: Path) -> None:
    path = good(tmp_path)
    original = path.read_bytes()
    with zipfile.ZipFile(path) as zipped:
        infos = [zipped.getinfo(name) for name in ("osticket.sql", "ost-config.php")]
    for info in infos:
        start = info.header_offset + 30 + len(info.filename)  # past the local file header (no extra field)
        for at in range(start, start + info.compress_size):
            data = bytearray(original)
            data[at] ^= 0x01
            path.write_bytes(bytes(data))
            try:
                opened = vm_backup.open_vm_backup(path)
            except BackupRejected:
                continue
            # Only a bit deflate never reads back into the part (its final-block flag, padding) may pass.
            assert (opened.sql, opened.config_php) == (DUMP, CONFIG), f"{info.filename}: byte {at - start}"


def test_a_missing_part_is_refused(tmp_path: Path) -> None:
    parts = {"osticket.sql": DUMP, "ost-config.php": CONFIG}
    path = write_zip(tmp_path / "b.zip", {"osticket.sql": DUMP}, manifest_for(parts))
    assert "ost-config.php: in the manifest but not in the zip" in rejected(path).problems


def test_a_part_the_manifest_does_not_name_is_refused(tmp_path: Path) -> None:
    parts = {"osticket.sql": DUMP, "ost-config.php": CONFIG}
    path = write_zip(tmp_path / "b.zip", {**parts, "extra.php": b"<?php"}, manifest_for(parts))
    assert "extra.php: in the zip but not in the manifest" in rejected(path).problems


def test_a_manifest_without_a_hash_for_a_part_is_refused(tmp_path: Path) -> None:
    parts = {"osticket.sql": DUMP}
    path = write_zip(tmp_path / "b.zip", parts, manifest_for(parts))
    problems = rejected(path).problems
    assert "ost-config.php: the manifest names no SHA-256 for it" in problems


def test_a_config_without_secret_salt_is_refused(tmp_path: Path) -> None:
    parts = {"osticket.sql": DUMP, "ost-config.php": CONFIG.replace(b"SECRET_SALT", b"OTHER_SALT")}
    path = write_zip(tmp_path / "b.zip", parts, manifest_for(parts))
    assert any("no SECRET_SALT" in p for p in rejected(path).problems)


@pytest.mark.parametrize(("change", "field"), [
    (lambda m: m.pop("schemaSignature"), "schemaSignature"),
    (lambda m: m.__setitem__("rows", {"ost_ticket": "many"}), "rows.ost_ticket"),
    (lambda m: m.__setitem__("format", 1), "format"),
])
def test_a_manifest_of_another_shape_is_refused_naming_the_field(tmp_path: Path, change: Callable[[dict[str, object]], object],
                                                                 field: str) -> None:
    parts = {"osticket.sql": DUMP, "ost-config.php": CONFIG}
    manifest = manifest_for(parts)
    change(manifest)
    message = str(rejected(write_zip(tmp_path / "b.zip", parts, manifest)))
    assert f"manifest.json: {field}:" in message


def test_a_zip_without_a_manifest_or_not_a_zip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "b.zip"
    with zipfile.ZipFile(path, "w") as zipped:
        zipped.writestr("osticket.sql", DUMP)
    assert "without manifest.json" in str(rejected(path))
    path.write_bytes(b"PK\x03\x04 truncated")
    assert "not a readable zip" in str(rejected(path))


def powershell_manifest_keys() -> list[str]:
    """The keys of ``$manifest = [ordered]@{ ... }`` in Invoke-OstopsBackup (values may hold calls in (...))."""
    text = SCRIPT.read_text(encoding="utf-8")
    body = re.search(r"\$manifest = \[ordered\]@\{(.*?)\}\s*\n\s*Write-TextFile", text, re.DOTALL)
    assert body, f"{SCRIPT}: no $manifest = [ordered]@{{...}} before Write-TextFile"
    return re.findall(r"(?:^|;|\n)\s*(\w+)\s*=", body.group(1))


def test_the_powershell_manifest_keys_equal_the_model_fields() -> None:
    keys = powershell_manifest_keys()
    assert keys == ["createdUtc", "reason", "osTicketVersion", "schemaSignature", "rows", "sha256"]
    aliases = [info.alias or name for name, info in VmManifest.model_fields.items()]
    assert keys == aliases


def test_the_powershell_hashes_exactly_the_parts_the_reader_checks() -> None:
    text = SCRIPT.read_text(encoding="utf-8")
    hashed = re.search(r"foreach \(\$part in @\(([^)]*)\)\) \{ \$hashes\[\$part\]", text)
    assert hashed, f"{SCRIPT}: no foreach over the hashed parts"
    assert tuple(re.findall(r"'([^']+)'", hashed.group(1))) == vm_backup.PARTS


def test_backup_verify_checks_a_vm_zip_without_a_passphrase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OSTOPS_BACKUP_PASSPHRASE", raising=False)
    path = good(tmp_path)
    result = CliRunner().invoke(cli, ["backup", "verify", str(path), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["manifest"]["rows"] == {"ost_ticket": 3, "ost_staff": 1}
    assert {"check": "runs", "ok": True, "detail": "no recorded runs in this backup"} in document["checks"]


def test_backup_verify_refuses_a_vm_zip_with_a_flipped_byte_exit_1(tmp_path: Path) -> None:
    path = good(tmp_path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zipped:
        info = zipped.getinfo("ost-config.php")
    data[info.header_offset + 30 + len(info.filename) + 2] ^= 0x01  # a byte of the stored data
    path.write_bytes(bytes(data))
    result = CliRunner().invoke(cli, ["backup", "verify", str(path)])
    assert isinstance(result.exception, BackupRejected) and exit_code_for(result.exception) == 1
    assert "ost-config.php" in str(result.exception), result.exception  # the zip's own CRC-32 catches it first


def test_restore_and_restore_test_of_a_vm_zip_say_they_are_not_supported_and_touch_nothing(tmp_path: Path) -> None:
    path = good(tmp_path)
    target = tmp_path / "restored"
    restored = CliRunner().invoke(cli, ["restore", str(path), "--dir", str(target)])
    assert isinstance(restored.exception, UsageError) and exit_code_for(restored.exception) == 2
    assert "not supported yet" in str(restored.exception)
    assert not target.exists()
    tested = CliRunner().invoke(cli, ["backup", "verify", str(path), "--restore-test"])
    assert isinstance(tested.exception, UsageError) and exit_code_for(tested.exception) == 2
    assert "--restore-test of it is not supported yet" in str(tested.exception)
