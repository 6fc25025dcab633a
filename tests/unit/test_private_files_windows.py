"""Private files on Windows (the Windows CI job runs the CLI there): NTFS has no 0600, so ostops sets the ACL
with icacls by SID and checks the ACL, not the mode bits. icacls is faked here; the Windows job runs it."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from automation import files
from automation.errors import ConfigError
from automation.instance import Instance

USER_SID = "S-1-5-21-1004336348-1177238915-682003330-1001"


class FakeWindows:
    def __init__(self, listing: str, found: set[str] | None = None) -> None:
        self.listing = listing
        self.found = found or set()
        self.calls: list[list[str]] = []

    def run(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(argv)
        assert kwargs.get("timeout"), "every child has a timeout"
        if argv[0] == "whoami":
            return subprocess.CompletedProcess(argv, 0, f'"ci\\runneradmin","{USER_SID}"\r\n', "")
        if "/findsid" in argv:
            sid = argv[-1].lstrip("*")
            out = f"SID Found: {argv[1]}.\r\n" if sid in self.found else ""
            return subprocess.CompletedProcess(argv, 0, out + "Successfully processed 1 files", "")
        if len(argv) == 2:
            return subprocess.CompletedProcess(argv, 0, self.listing, "")
        return subprocess.CompletedProcess(argv, 0, "processed file", "")


@pytest.fixture
def windows(monkeypatch: pytest.MonkeyPatch) -> FakeWindows:
    fake = FakeWindows("")
    monkeypatch.setattr(files, "_is_windows", lambda: True)
    monkeypatch.setattr(files.subprocess, "run", fake.run)
    return fake


def test_a_private_file_is_restricted_by_sid_before_anything_is_written(windows: FakeWindows,
                                                                        tmp_path: Path) -> None:
    target = tmp_path / "instance.json"
    files.write_private(target, "secret")
    grant = next(call for call in windows.calls if "/grant:r" in call)
    assert grant[0] == "icacls" and grant[1] != str(target)  # the temporary file, before the rename
    assert "/inheritance:r" in grant
    assert {f"*{USER_SID}:F", "*S-1-5-18:F", "*S-1-5-32-544:F"} <= set(grant)
    assert target.read_text() == "secret"


def test_a_public_file_gets_no_acl_change(windows: FakeWindows, tmp_path: Path) -> None:
    files.write_atomic(tmp_path / "https-certificate.pem", "pem", mode=0o644)
    assert not any("/grant:r" in call for call in windows.calls)


@pytest.mark.parametrize(("listing", "found", "problem"), [
    ("x BUILTIN\\Users:(I)(RX)\n", set(), "inherits entries"),
    ("x Everyone:(R)\n", {"S-1-1-0"}, "lets Everyone in"),
    ("x Jeder:(R)\n", {"S-1-1-0"}, "lets Everyone in"),  # a German Windows: found by SID, not by name
    ("x NT AUTHORITY\\Authenticated Users:(M)\n", {"S-1-5-11"}, "Authenticated Users"),
])
def test_an_open_acl_is_refused_with_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, listing: str,
                                             found: set[str], problem: str) -> None:
    fake = FakeWindows(listing, found)
    monkeypatch.setattr(files, "_is_windows", lambda: True)
    monkeypatch.setattr(files.subprocess, "run", fake.run)
    path = tmp_path / "instance.json"
    path.write_text("{}")
    with pytest.raises(ConfigError) as info:
        Instance.load(path)
    assert problem in str(info.value)
    assert "icacls" in str(info.value) and "/inheritance:r" in str(info.value)
    assert info.value.exit_code == 2


def test_a_restricted_acl_passes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = FakeWindows("x NT AUTHORITY\\SYSTEM:(F)\n  BUILTIN\\Administrators:(F)\n  ci\\runneradmin:(F)\n")
    monkeypatch.setattr(files, "_is_windows", lambda: True)
    monkeypatch.setattr(files.subprocess, "run", fake.run)
    path = tmp_path / "instance.json"
    path.write_text("{}")
    assert files.private_file_problem(path) is None


def test_posix_keeps_the_mode_check(tmp_path: Path) -> None:
    path = tmp_path / "instance.json"
    path.write_text("{}")
    path.chmod(0o644)
    assert files.private_file_problem(path) == "other users can read or change it (mode 0644)"
    assert files.private_file_fix(path) == f"chmod 600 {path}"
