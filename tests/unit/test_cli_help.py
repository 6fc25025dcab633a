"""Every --help ends with one to three examples; -V prints the version; shell completion answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from automation.cli import cli

OSTOPS = str(Path(sys.executable).parent / "ostops")


def every_command(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            found += every_command(sub, (*path, name))
    return found


@pytest.mark.parametrize("path", every_command(cli), ids=lambda p: " ".join(("ostops", *p)))
def test_help_ends_with_one_to_three_examples(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    _head, sep, examples = result.output.rpartition("Examples:\n")
    assert sep, result.output
    lines = [line.strip() for line in examples.strip().splitlines()]
    assert 1 <= len(lines) <= 3, lines
    assert all("ostops" in line for line in lines), lines
    if path and path[-1] not in ("local", "instance", "manifest"):  # groups show their commands instead
        assert all(" ".join(path) in line for line in lines), lines


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version(flag: str) -> None:
    result = CliRunner().invoke(cli, [flag], prog_name="ostops")
    assert result.exit_code == 0
    assert result.output.startswith("ostops, version ")


def test_bash_completion_completes_commands() -> None:
    env = {**os.environ, "_OSTOPS_COMPLETE": "bash_complete", "COMP_WORDS": "ostops local st", "COMP_CWORD": "2"}
    result = subprocess.run([OSTOPS], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0
    assert "plain,status" in result.stdout.splitlines()
    source = subprocess.run([OSTOPS], env={**os.environ, "_OSTOPS_COMPLETE": "bash_source"}, capture_output=True,
                            text=True, timeout=60, check=False)
    assert "_ostops_completion()" in source.stdout
