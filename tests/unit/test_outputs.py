"""Output paths: refused before any work when they could not be written, and nothing created by the check."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from automation.cli.common import check_writable, write_text
from automation.errors import ConfigError
from tests.helpers.osticket import OSTOPS, REPO


def test_existing_writable_files_pass_whatever_their_folder() -> None:
    assert check_writable(Path("/dev/null"), "--junit") == Path("/dev/null")


def test_a_new_file_in_a_missing_folder_is_refused_and_nothing_is_created(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "report.html"
    with pytest.raises(ConfigError, match=rf"--output {target}: the folder {target.parent} does not exist") as info:
        write_text(target, "<p>ok</p>", "--output")
    assert info.value.exit_code == 2
    assert not (tmp_path / "a").exists()


def test_a_new_file_in_an_existing_folder_is_written(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    write_text(check_writable(target, "--output"), "<p>ok</p>", "--output")
    assert target.read_text() == "<p>ok</p>"


def test_a_dash_is_standard_output(capsys: pytest.CaptureFixture[str]) -> None:
    write_text(check_writable(Path("-"), "--json"), '{"passed": true}\n', "--json")
    assert capsys.readouterr().out == '{"passed": true}\n'


def test_a_file_in_the_way_of_the_folders_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=rf"--json {blocker}/x/run.json: {blocker} is not a folder"):
        check_writable(blocker / "x" / "run.json", "--json")


def test_a_folder_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder; name a file in it"):
        check_writable(tmp_path, "--output")


@pytest.mark.parametrize("args", [
    ["report", "--output", "{missing}/report.html"],
    ["run", "seed/scenarios/lab.yaml", "--junit", "{missing}/junit.xml"],
    ["run", "seed/scenarios/lab.yaml", "--json-file", "{missing}/run.json"],
])
def test_the_commands_refuse_a_missing_folder_with_exit_2_before_any_work(args: list[str], tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    argv = [a.format(missing=missing) for a in args]
    proc = subprocess.run([OSTOPS, *argv, "--instance", str(tmp_path / "none.json")], capture_output=True, text=True,
                          timeout=60, cwd=REPO, check=False)
    assert proc.returncode == 2, proc.stderr
    assert f"the folder {missing} does not exist" in proc.stderr
    assert not missing.exists()


def test_a_run_refuses_both_files_on_standard_output(tmp_path: Path) -> None:
    proc = subprocess.run([OSTOPS, "run", "seed/scenarios/lab.yaml", "--junit", "-", "--json",
                           "--instance", str(tmp_path / "none.json")], capture_output=True, text=True, timeout=60,
                          cwd=REPO, check=False)
    assert proc.returncode == 2
    assert "would both go to standard output" in proc.stderr
