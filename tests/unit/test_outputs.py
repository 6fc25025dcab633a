"""Output paths: refused before any work when they could not be written, and nothing created by the check."""

from __future__ import annotations

from pathlib import Path

import pytest

from automation.cli.common import check_writable, write_text
from automation.errors import ConfigError


def test_existing_writable_files_pass_whatever_their_folder() -> None:
    assert check_writable(Path("/dev/null"), "--junit") == Path("/dev/null")


def test_a_new_file_in_missing_folders_is_checked_without_creating_them(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "report.html"
    check_writable(target, "--output")
    assert not (tmp_path / "a").exists()
    write_text(target, "<p>ok</p>", "--output")
    assert target.read_text() == "<p>ok</p>"


def test_a_file_in_the_way_of_the_folders_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=rf"--json {blocker}/x/run.json: {blocker} is not a folder"):
        check_writable(blocker / "x" / "run.json", "--json")


def test_a_folder_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder; name a file in it"):
        check_writable(tmp_path, "--output")
