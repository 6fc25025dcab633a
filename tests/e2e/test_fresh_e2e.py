"""Issue 14: `ostops local up --fresh` cannot lose an instance. The new source is resolved before the old
instance is touched, the question is asked (or `--yes` given), the old one is kept until the new one answers
and put back when the new one fails; the instance records its source and version, `local status` shows them."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from automation.errors import LocalInstanceError
from automation.local import manager
from tests.helpers.osticket import OSTOPS

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def base() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="ostops-e2e-fresh-"))
    try:
        manager.up(root / "instance")
        yield root / "instance"
    finally:
        manager.down(root / "instance")
        shutil.rmtree(root, ignore_errors=True)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OSTOPS, *args], capture_output=True, text=True, timeout=300, check=False,
                          stdin=subprocess.DEVNULL)


def api_key(base: Path) -> str:
    return json.loads(manager.instance_file(base).read_text())["api_key"]


def siblings(base: Path, kind: str) -> list[Path]:
    return sorted(base.parent.glob(f"{base.name}.{kind}-*"))


def test_an_unresolvable_source_and_no_confirmation_change_nothing(base: Path, tmp_path: Path) -> None:
    key = api_key(base)
    bad = cli("local", "up", "--dir", str(base), "--fresh", "--yes", "--source", str(tmp_path / "missing.zip"))
    assert bad.returncode == 2, bad.stdout + bad.stderr
    unasked = cli("local", "up", "--dir", str(base), "--fresh")
    assert unasked.returncode == 2, unasked.stdout + unasked.stderr
    assert "Standard input is not a terminal, so confirm with --yes; nothing was changed" in \
        " ".join(unasked.stderr.split())
    instance = manager.load_local(base)
    assert instance is not None and api_key(base) == key
    assert manager.status(instance).healthy
    assert not siblings(base, "previous")


def test_a_failed_fresh_puts_the_old_instance_back(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = api_key(base)

    def broken(php: str, instance: object) -> None:
        raise LocalInstanceError("osTicket's installer failed: simulated")

    monkeypatch.setattr(manager, "run_installer", broken)
    with pytest.raises(LocalInstanceError, match="simulated") as caught:
        manager.up(base, fresh=True)
    assert any(f"the old instance is back in {base}" in p for p in caught.value.problems)
    instance = manager.load_local(base)
    assert instance is not None and api_key(base) == key
    assert manager.status(instance).healthy
    failed = siblings(base, "failed")
    assert len(failed) == 1 and (failed[0] / "logs").is_dir()  # the new one's logs, for why
    shutil.rmtree(failed[0])


def test_fresh_with_yes_replaces_it_and_status_shows_source_and_version(base: Path) -> None:
    key = api_key(base)
    done = cli("local", "up", "--dir", str(base), "--fresh", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert api_key(base) != key
    assert not siblings(base, "previous")
    status = cli("local", "status", "--json", "--instance", str(manager.instance_file(base)))
    assert status.returncode == 0, status.stdout + status.stderr
    document = json.loads(status.stdout)
    assert document["osticket_version"] == "1.18.1"
    assert "(OSTICKET_SOURCE " in document["source"]  # where up found it, and the web root it copied
    table = cli("local", "status", "--instance", str(manager.instance_file(base)))
    assert "osTicket version: 1.18.1" in table.stdout and "source: " in table.stdout
