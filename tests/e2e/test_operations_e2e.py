"""Issue 21: backup, restore and upgrade of a real local osTicket, each proven by re-verifying the runs recorded
before it. The help desk starts on osTicket 1.17.5 (beside $OSTICKET_SOURCE), gets runs, is backed up and
restored into a new instance, then upgraded to 1.18.1: first from a copy of the release with a broken patch
(rolled back), then from the release itself."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pyrage
import pytest

from automation.instance import Instance
from automation.local import manager
from automation.operations import mariadb
from automation.operations.reverify import reverify_runs
from automation.workspace import Workspace
from tests.conftest import LocalOsTicket
from tests.helpers.osticket import OSTOPS, REPO, query

pytestmark = pytest.mark.e2e

PASSPHRASE = "Zoë's \"backup\" & <passphrase> ü"
LAB = REPO / "seed" / "scenarios" / "lab.yaml"
OPERATIONS = REPO / "tests" / "e2e" / "data" / "operations.yaml"
RUN_ID = re.compile(r"run (\d{14}-[0-9a-f]{4}): every expectation holds")


def release(version: str) -> Path:
    """The release zip of ``version`` beside $OSTICKET_SOURCE (the e2e tests' osTicket)."""
    here = Path(os.environ.get("OSTICKET_SOURCE", "/work/shared/osticket/osTicket-v1.18.1.zip"))
    path = here.with_name(f"osTicket-v{version}.zip")
    assert path.is_file(), f"{path}: the upgrade rehearsal needs osTicket {version}'s release zip there"
    return path


def cli(*args: str, instance: Path | None = None, passphrase: str | None = PASSPHRASE,
        timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OSTOPS_INSTANCE", "OSTOPS_BACKUP_PASSPHRASE")}
    if passphrase is not None:
        env["OSTOPS_BACKUP_PASSPHRASE"] = passphrase
    if instance is not None:
        env["OSTOPS_INSTANCE"] = str(instance)
    return subprocess.run([OSTOPS, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env,
                          stdin=subprocess.DEVNULL, check=False)


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalOsTicket]:
    """osTicket 1.17.5 with three recorded runs: the reference lab, the operations scenario and a load run."""
    base = tmp_path_factory.mktemp("ops") / "instance"
    up = manager.up(base, release("1.17.5"))
    try:
        desk = LocalOsTicket(up.instance, manager.instance_file(base), base)
        for scenario in (LAB, OPERATIONS):
            result = cli("run", str(scenario), "--seed", instance=desk.instance_path)
            assert result.returncode == 0, result.stdout + result.stderr
        loaded = cli("load", "--tickets", "5", "--concurrency", "2", instance=desk.instance_path)
        assert loaded.returncode == 0, loaded.stdout + loaded.stderr
        yield desk
    finally:
        manager.down(base)


def runs_of(instance_file: Path) -> list[str]:
    return [p.stem for p in Workspace(instance_file).run_files()]


def verify_every_run(instance_file: Path) -> None:
    """`ostops verify` of each recorded scenario run passes (its expectations and its ledger), and every run,
    the load run too (each of its tickets there, whole, tagged), re-verifies."""
    for path in Workspace(instance_file).run_files():
        record = json.loads(path.read_text())
        if record["kind"] == "load":
            continue
        scenario = record["scenario"]
        assert scenario in (str(LAB), str(OPERATIONS))
        result = cli("verify", scenario, "--run", path.stem, instance=instance_file)
        assert result.returncode == 0, result.stdout + result.stderr
    result = reverify_runs(Workspace(instance_file))
    assert result.passed, result.problems()
    assert sorted(run.basis for run in result.runs) == ["ledger + scenario", "ledger + scenario", "tickets"]
    assert [run.tickets for run in result.runs if run.kind == "load"] == [5]


def signature(instance: Instance) -> str:
    rows = query(_Desk(instance), "SELECT value FROM ost_config WHERE namespace = 'core' AND `key` = "
                 "'schema_signature'")
    return str(rows[0]["value"])


class _Desk:
    def __init__(self, instance: Instance) -> None:
        self.instance = instance


def test_backup_then_restore_into_a_new_instance(desk: LocalOsTicket, tmp_path: Path) -> None:
    output = tmp_path / "desk.age"
    made = cli("backup", "--output", str(output), instance=desk.instance_path)
    assert made.returncode == 0, made.stdout + made.stderr
    assert output.stat().st_mode & 0o777 == 0o600
    data = output.read_bytes()
    assert data.startswith(b"age-encryption.org/v1\n")
    for secret in (desk.instance.admin.password.get_secret_value(), desk.instance.api_key.get_secret_value()):
        assert secret.encode() not in data
        assert secret not in made.stdout + made.stderr
    assert PASSPHRASE not in made.stdout + made.stderr
    assert b"INSERT INTO" not in data

    checked = cli("backup", "verify", str(output))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "the backup is sound" in checked.stdout

    target = tmp_path / "restored"
    restored = cli("restore", str(output), "--dir", str(target))
    try:
        assert restored.returncode == 0, restored.stdout + restored.stderr
        for check in ("rows per table", "recorded runs", "staff login", "API key", "portal"):
            assert re.search(rf"{check}\s*│ ok", restored.stdout), restored.stdout
        new_file = target / "instance.json"
        new = Instance.load(new_file)
        assert new.base_url != desk.instance.base_url and new.osticket_version == "1.17.5"
        assert runs_of(new_file) == runs_of(desk.instance_path)
        verify_every_run(new_file)
        # Rows per table: the restored database holds what the original held (sessions aside: every HTTP
        # request writes one).
        before, after = mariadb.count_rows(desk.instance), mariadb.count_rows(new)
        before.pop("ost_session"), after.pop("ost_session")
        assert after == before
        # SECRET_SALT travelled: the restored config has the original's.
        salt = re.compile(r"define\('SECRET_SALT','([^']+)'\)")
        old_config = (Path(desk.instance.local.webroot) / "include" / "ost-config.php").read_text()  # type: ignore[union-attr]
        new_config = (Path(new.local.webroot) / "include" / "ost-config.php").read_text()  # type: ignore[union-attr]
        assert salt.search(old_config).group(1) == salt.search(new_config).group(1)  # type: ignore[union-attr]
    finally:
        manager.down(target)


def test_a_flipped_byte_a_wrong_passphrase_or_a_part_unlike_its_manifest_restores_nothing(
        desk: LocalOsTicket, tmp_path: Path) -> None:
    good = tmp_path / "good.age"
    assert cli("backup", "--output", str(good), instance=desk.instance_path).returncode == 0

    flipped = tmp_path / "flipped.age"
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0x01
    flipped.write_bytes(bytes(data))

    # The archive re-encrypted with the right passphrase after one part changed: age cannot tell, the manifest can.
    plain = pyrage.passphrase.decrypt(good.read_bytes(), PASSPHRASE)
    rebuilt = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(plain)) as old, tarfile.open(fileobj=rebuilt, mode="w") as new:
        for member in old.getmembers():
            content = old.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "ostops/credentials.json":
                content = content.replace(b"{", b"{ ", 1)
            member.size = len(content)
            new.addfile(member, io.BytesIO(content))
    altered = tmp_path / "altered.age"
    altered.write_bytes(pyrage.passphrase.encrypt(rebuilt.getvalue(), PASSPHRASE))

    cases = [(flipped, PASSPHRASE, "cannot decrypt"), (good, "wrong passphrase", "cannot decrypt"),
             (altered, PASSPHRASE, "ostops/credentials.json: SHA-256")]
    for index, (file, passphrase, said) in enumerate(cases):
        target = tmp_path / f"target-{index}"
        for args in (("restore", str(file), "--dir", str(target)), ("backup", "verify", str(file))):
            result = cli(*args, passphrase=passphrase)
            assert result.returncode == 1, (args, result.stdout + result.stderr)
            assert said in result.stdout + result.stderr
            assert "Traceback" not in result.stderr
        assert not target.exists()
    # Nothing touched the original either.
    verify_every_run(desk.instance_path)


def test_backup_verify_restore_test_proves_the_backup_in_a_throwaway_instance(desk: LocalOsTicket,
                                                                              tmp_path: Path) -> None:
    output = tmp_path / "desk.age"
    assert cli("backup", "--output", str(output), instance=desk.instance_path).returncode == 0
    result = cli("backup", "verify", str(output), "--restore-test")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"recorded runs\s*│ ok\s*│ 3 run\(s\) re-verified, all pass", result.stdout), result.stdout
    assert not list(Path(os.environ.get("TMPDIR", "/tmp")).glob("ostops-restore-test-*/instance/instance.json"))


def broken_release(tmp_path: Path) -> Path:
    """A copy of the 1.18.1 release whose one schema patch refers to a table that does not exist."""
    broken = tmp_path / "broken" / "osTicket-v1.18.1.zip"
    broken.parent.mkdir()
    with zipfile.ZipFile(release("1.18.1")) as zin, zipfile.ZipFile(broken, "w", zipfile.ZIP_DEFLATED) as zout:
        patched = 0
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.endswith("streams/core/83a22ba2-5fb92bef.patch.sql"):
                data = data.replace(b"UPDATE `%TABLE_PREFIX%config`",
                                    b"ALTER TABLE `%TABLE_PREFIX%no_such_table` ADD COLUMN broken INT;\n\n"
                                    b"UPDATE `%TABLE_PREFIX%config`")
                patched += 1
            zout.writestr(item, data)
    assert patched == 1
    return broken


def test_an_upgrade_failing_mid_way_rolls_back_to_a_help_desk_where_the_runs_verify(desk: LocalOsTicket,
                                                                                    tmp_path: Path) -> None:
    old_signature = signature(desk.instance)
    tickets = query(desk, "SELECT COUNT(*) AS n FROM ost_ticket")[0]["n"]
    result = cli("upgrade", "--to", "1.18.1", "--source", str(broken_release(tmp_path)),
                 instance=desk.instance_path)
    assert result.returncode == 1, result.stdout + result.stderr
    said = result.stdout + result.stderr
    assert "upgrade failed at step 'upgrader'" in said
    assert "no_such_table" in said  # osTicket's own message
    assert "rolled back to osTicket 1.17.5" in said and "3 run(s) re-verified, all pass" in said
    instance = Instance.load(desk.instance_path)
    assert instance.osticket_version == "1.17.5"
    assert signature(instance) == old_signature
    assert query(desk, "SELECT COUNT(*) AS n FROM ost_ticket")[0]["n"] == tickets
    assert "define('MAJOR_VERSION', '1.17')" in (Path(instance.local.webroot) / "bootstrap.php").read_text()  # type: ignore[union-attr]
    verify_every_run(desk.instance_path)


def test_upgrade_from_1_17_5_to_1_18_1_keeps_every_run(desk: LocalOsTicket) -> None:
    result = cli("upgrade", "--to", "1.18.1", "--source", str(release("1.18.1")), instance=desk.instance_path)
    assert result.returncode == 0, result.stdout + result.stderr
    instance = Instance.load(desk.instance_path)
    assert instance.osticket_version == "1.18.1"
    with zipfile.ZipFile(release("1.18.1")) as zf:
        core_sig = zf.read("upload/include/upgrader/streams/core.sig").decode().strip()
    assert signature(instance) == core_sig
    webroot = Path(instance.local.webroot)  # type: ignore[union-attr]
    assert not (webroot / "setup").exists()
    assert (webroot / "include" / "ost-config.php").stat().st_mode & 0o222 == 0
    assert "define('MAJOR_VERSION', '1.18')" in (webroot / "bootstrap.php").read_text()
    # The smoke test's ticket (and any osTicket makes while upgrading) is no run's: every run still verifies,
    # each with exactly its own tickets.
    verify_every_run(desk.instance_path)
    assert query(desk, "SELECT COUNT(*) AS n FROM ost_ticket WHERE ticket_id > %s",
                 [max(r.id_range[1] for r in _records(desk))])[0]["n"] >= 1


def _records(desk: LocalOsTicket) -> list:
    from automation.scenarios.record import load_record

    workspace = Workspace(desk.instance_path)
    return [r for r in (load_record(workspace, run_id) for run_id in runs_of(desk.instance_path)) if r and r.id_range]
