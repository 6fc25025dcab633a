"""Issue 21: the backup archive and its pieces, without a database: rows counted from a dump, the manifest and
its hashes, encryption, the restored config file, the database password kept off command lines."""

from __future__ import annotations

import io
import stat
import tarfile
from pathlib import Path

import pyrage
import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from automation.cli import cli, exit_code_for
from automation.errors import BackupRejected, ConfigError
from automation.instance import DatabaseAccess, Instance, Login
from automation.operations import archive, mariadb
from automation.operations.archive import Keys, Manifest, Part
from automation.operations.restore import config_for

CONFIG = (b"<?php\ndefine('OSTINSTALLED',TRUE);\ndefine('SECRET_SALT','s4lt-K33p-M3');\n"
          b"define('DBTYPE','mysql');\ndefine('DBHOST','127.0.0.1:4000');\ndefine('DBNAME','osticket');\n"
          b"define('DBUSER','osticket');\ndefine('DBPASS','old-password');\ndefine('TABLE_PREFIX','ost_');\n")


def instance(password: str = "n3w'pa\\ss\"word") -> Instance:
    return Instance(kind="local", url="http://127.0.0.1:8080/", osticket_version="1.18.1",
                    api_key=SecretStr("K" * 32), admin=Login(username="ostadmin", password=SecretStr("a")),
                    db=DatabaseAccess(host="127.0.0.1", port=5555, name="osticket", user="osticket",
                                      password=SecretStr(password)))


def test_rows_are_counted_from_the_dump_one_row_a_line_and_in_one_line_statements() -> None:
    dump = [
        b"/*M!999999\\- enable the sandbox mode */ \n-- MariaDB dump 10.19\n",
        b"CREATE TABLE `ost_empty` (\n", b"  `id` int\n", b");\n",
        b"CREATE TABLE `ost_thread_entry` (\n",
        b"INSERT INTO `ost_thread_entry` VALUES\n",
        # a body with "),(", a semicolon at its end and an escaped quote and newline: still one row each
        b"(1,'M','Karen said \\'it\\'s down\\'),(2,\\nagain;'),\n",
        b"(2,'N','Zo\xc3\xab & <Co>: \"quoted\";'),\n",
        b"(3,'R','done');\n",
        b"INSERT INTO `ost_sla` VALUES (1,'a),(b'),(2,'c\\'),(d'),(3,NULL);\n",
    ]
    assert mariadb.count_dump_rows(b"".join(dump)) == {"ost_empty": 0, "ost_thread_entry": 3, "ost_sla": 3}


def sample_manifest(parts: dict[str, bytes]) -> Manifest:
    return Manifest(created="2026-12-06T10:00:00+00:00", ostops_version="0.1.0", osticket_version="1.18.1",
                    schema_signature="5fb92bef17f3b603659e024c01cc7a59", table_prefix="ost_", database="osticket",
                    dump_tool="mariadb-dump", instance_kind="local", instance_url="http://127.0.0.1:8080/",
                    rows={"ost_ticket": 2},
                    parts={n: Part(sha256=archive.sha256(d), size=len(d)) for n, d in parts.items()},
                    runs=[], attachments="database")


PARTS = {archive.DATABASE: b"INSERT INTO `ost_ticket` VALUES\n(1),\n(2);\n", archive.CONFIG: CONFIG,
         "ostops/instance.json": b"{}"}


# X25519 keys for most tests: a passphrase costs an scrypt of seconds each way (age's work factor).
IDENTITY = pyrage.x25519.Identity.generate()
KEYS = Keys(identities=[str(IDENTITY)])


def write_backup(path: Path, parts: dict[str, bytes], manifest: Manifest, keys: Keys | None = None) -> None:
    keys = keys or Keys(recipients=[str(IDENTITY.to_public())])
    archive.write(path, keys.encrypt(archive.pack(manifest, parts)))


def test_a_backup_round_trips_mode_0600_and_every_part_matches(tmp_path: Path) -> None:
    path = tmp_path / "b.age"
    write_backup(path, PARTS, sample_manifest(PARTS), Keys(passphrase="pw"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    opened = archive.open_backup(path, Keys(passphrase="pw"))
    assert opened.parts == PARTS and opened.manifest.rows == {"ost_ticket": 2}


def test_a_part_unlike_its_manifest_is_named_and_nothing_is_returned(tmp_path: Path) -> None:
    path = tmp_path / "b.age"
    changed = {**PARTS, archive.DATABASE: PARTS[archive.DATABASE].replace(b"(2)", b"(3)")}
    write_backup(path, changed, sample_manifest(PARTS))
    with pytest.raises(BackupRejected) as caught:
        archive.open_backup(path, KEYS)
    assert "does not match its manifest" in str(caught.value)
    assert any(p.startswith("database.sql: SHA-256") for p in caught.value.problems)
    assert caught.value.exit_code == 1  # the file is refused, nothing restored: exit 1 as the restore contract says


def test_a_wrong_passphrase_a_flipped_byte_or_another_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "b.age"
    write_backup(path, PARTS, sample_manifest(PARTS), Keys(passphrase="pw"))
    with pytest.raises(BackupRejected, match="cannot decrypt"):
        archive.open_backup(path, Keys(passphrase="other"))
    write_backup(path, PARTS, sample_manifest(PARTS))
    data = bytearray(path.read_bytes())
    data[-20] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(BackupRejected, match="cannot decrypt"):
        archive.open_backup(path, KEYS)
    path.write_bytes(b"-- MariaDB dump\n")
    with pytest.raises(BackupRejected, match="not an ostops backup"):
        archive.open_backup(path, KEYS)


def test_a_config_without_secret_salt_is_refused(tmp_path: Path) -> None:
    parts = {**PARTS, archive.CONFIG: CONFIG.replace(b"define('SECRET_SALT','s4lt-K33p-M3');\n", b"")}
    path = tmp_path / "b.age"
    write_backup(path, parts, sample_manifest(parts))
    with pytest.raises(BackupRejected) as caught:
        archive.open_backup(path, KEYS)
    assert any("SECRET_SALT" in p for p in caught.value.problems)


def test_recipients_encrypt_and_the_identity_decrypts_and_re_encrypts_to_itself(tmp_path: Path) -> None:
    identity = pyrage.x25519.Identity.generate()
    path = tmp_path / "b.age"
    archive.write(path, Keys(recipients=[str(identity.to_public())]).encrypt(archive.pack(sample_manifest(PARTS),
                                                                                         PARTS)))
    keys = Keys(identities=[str(identity)])
    assert archive.open_backup(path, keys).parts == PARTS
    assert keys.public().recipients == [str(identity.to_public())]
    with pytest.raises(ConfigError, match="not an age public key"):
        Keys(recipients=["age1nope"]).encrypt(b"x")


def test_the_restored_config_keeps_secret_salt_and_points_at_the_new_database() -> None:
    new = instance()
    text = config_for(CONFIG, new).decode()
    assert "define('SECRET_SALT','s4lt-K33p-M3');" in text
    assert "define('DBHOST','127.0.0.1:5555')" in text
    assert "define('DBPASS','n3w\\'pa\\\\ss\"word')" in text  # PHP single-quoted: \' and \\
    assert "old-password" not in text and "define('TABLE_PREFIX','ost_');" in text
    quoted = CONFIG.replace(b"define('DBPASS','old-password');", b"define('DBPASS', 'o\\'ld\"pw');")
    assert "define('DBPASS','n3w" in config_for(quoted, new).decode()
    assert "ld\"pw" not in config_for(quoted, new).decode()
    with pytest.raises(ConfigError, match="defines no DBPASS"):
        config_for(CONFIG.replace(b"define('DBPASS','old-password');", b""), new)


def test_the_database_password_reaches_the_tools_in_a_private_option_file_not_argv() -> None:
    new = instance('pa"ss\\word')
    with mariadb.option_file(new) as cnf:
        assert stat.S_IMODE(cnf.stat().st_mode) == 0o600
        assert stat.S_IMODE(cnf.parent.stat().st_mode) == 0o700
        assert 'password="pa\\"ss\\\\word"' in cnf.read_text()
    assert not cnf.exists()


def test_backup_without_a_passphrase_off_a_terminal_exits_2_and_writes_nothing(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "b.age"
    write_backup(path, PARTS, sample_manifest(PARTS))
    monkeypatch.delenv("OSTOPS_BACKUP_PASSPHRASE", raising=False)
    result = CliRunner().invoke(cli, ["backup", "verify", str(path)], input="")
    assert isinstance(result.exception, ConfigError) and exit_code_for(result.exception) == 2
    assert "OSTOPS_BACKUP_PASSPHRASE" in str(result.exception)
    missing = CliRunner().invoke(cli, ["restore", str(tmp_path / "none.age")], env={"OSTOPS_BACKUP_PASSPHRASE": "pw"})
    assert isinstance(missing.exception, ConfigError) and exit_code_for(missing.exception) == 2
    assert "no such backup file" in str(missing.exception)


def test_the_tar_holds_the_manifest_first(tmp_path: Path) -> None:
    data = archive.pack(sample_manifest(PARTS), PARTS)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
    assert names[0] == archive.MANIFEST and set(names[1:]) == set(PARTS)
