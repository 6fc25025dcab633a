"""The download manifest's bad input: non-UTF-8, duplicate keys, several problems at once, each with its line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from automation.errors import ConfigError
from automation.manifest import MANIFEST_PATH, load_manifest, write_hashes


def manifest_text(**overrides: dict[str, str]) -> str:
    raw = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    for name, fields in overrides.items():
        raw["downloads"][name].update(fields)
    return json.dumps(raw, indent=2) + "\n"


QUOTE = '"'


def line_of(text: str, needle: str, start: int = 0) -> int:
    return text[:text.index(needle, start)].count("\n") + 1


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "downloads.json"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_non_utf8_manifest_names_file_and_line(tmp_path: Path) -> None:
    text = manifest_text().replace('"1.18.3"', '"1.18.3-CAF\\u00e9"', 1)
    raw = text.encode("utf-8").replace(b"CAF\\u00e9", b"CAF\xe9")
    path = write(tmp_path, raw)
    with pytest.raises(ConfigError) as info:
        load_manifest(path)
    assert str(info.value) == (f"{path}:{line_of(text, 'CAF')}: not UTF-8 text (byte 0xe9); save the file as UTF-8")
    assert info.value.exit_code == 2


def test_a_second_url_inside_an_entry_is_refused_not_silently_used(tmp_path: Path) -> None:
    text = manifest_text()
    first = text.index('"url"')
    text = text[:first] + '"url": "https://evil.example/osticket.zip",\n      ' + text[first:]
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_manifest(path)
    message = str(info.value)
    second = line_of(text, QUOTE + "url" + QUOTE, first + 10)
    assert message.startswith(f"{path}:{second} downloads.osticket.url: duplicate key 'url'"), message
    assert "evil.example" not in message


def test_a_duplicate_entry_name_is_refused(tmp_path: Path) -> None:
    text = manifest_text()
    at = text.index('"osticket": {')
    text = text[:at] + '"php": {"version": "0.1", "url": "https://evil.example/x.zip", "file": "x.zip", ' \
        '"sha256": "unknown"},\n    ' + text[at:]
    path = write(tmp_path, text)
    second = line_of(text, QUOTE + "php" + QUOTE, at + 20)
    with pytest.raises(ConfigError, match=rf"{path}:{second} downloads\.php: duplicate key 'php'"):
        load_manifest(path)


def test_every_problem_is_reported_at_once_with_its_line(tmp_path: Path) -> None:
    text = manifest_text(osticket={"sha256": "ABC"}, php={"url": "http://windows.php.net/x.zip"},
                         mariadb={"colour": "blue"})
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_manifest(path)
    lines = str(info.value).splitlines()
    sha, url, colour = line_of(text, "ABC"), line_of(text, "http://windows"), line_of(text, "colour")
    assert lines[0] == f"{path}: 3 problems in the download manifest:"
    assert lines[1:] == [
        f"  {path}:{sha} downloads.osticket.sha256: must be 64 lower-case hex digits or 'unknown'",
        f"  {path}:{url} downloads.php.url: must be an https:// URL",
        f"  {path}:{colour} downloads.mariadb.colour: unknown field",
    ]


def test_a_missing_field_points_at_its_entry(tmp_path: Path) -> None:
    raw = json.loads(manifest_text())
    del raw["downloads"]["vcredist"]["file"]
    text = json.dumps(raw, indent=2)
    path = write(tmp_path, text)
    entry = line_of(text, QUOTE + "vcredist" + QUOTE)
    with pytest.raises(ConfigError, match=rf"^{path}:{entry} downloads\.vcredist\.file: "
                                          "required field is missing$"):
        load_manifest(path)


def test_write_hashes_refuses_a_manifest_with_duplicate_keys_and_writes_nothing(tmp_path: Path) -> None:
    text = manifest_text().replace('"sha256": "unknown"', '"sha256": "unknown", "sha256": "unknown"', 1)
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match="duplicate key 'sha256'"):
        write_hashes({"php": "a" * 64}, path)
    assert path.read_text(encoding="utf-8") == text


def test_the_real_manifest_still_loads_and_round_trips(tmp_path: Path) -> None:
    path = write(tmp_path, MANIFEST_PATH.read_text(encoding="utf-8"))
    before = json.loads(path.read_text(encoding="utf-8"))
    write_hashes({"php": "a" * 64}, path)
    after = json.loads(path.read_text(encoding="utf-8"))
    before["downloads"]["php"]["sha256"] = "a" * 64
    assert after == before and list(after["downloads"]) == list(before["downloads"])


@pytest.mark.parametrize("case", ["non_utf8", "duplicate", "missing"])
def test_cli_check_exits_2_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    from automation import cli

    if case == "non_utf8":
        path = write(tmp_path, b'{"downloads": {"caf\xe9": {}}}')
        expected = f"{path}:1: not UTF-8 text"
    elif case == "duplicate":
        path = write(tmp_path, manifest_text().replace('"file"', '"url": "https://x.example/a", "file"', 1))
        expected = "duplicate key 'url'"
    else:
        path = tmp_path / "missing" / "downloads.json"
        expected = f"{path}: download manifest not found"
    monkeypatch.setattr(sys, "argv", ["ostops", "manifest", "check", "--manifest", str(path)])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    captured = capsys.readouterr()
    assert exit_info.value.code == 2
    assert expected in " ".join(captured.err.split()), captured.err
    assert captured.out == ""
