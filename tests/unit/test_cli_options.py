"""Option combinations the CLI refuses before it touches anything (exit 2)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from automation.cli import cli


@pytest.mark.parametrize(("args", "message"), [
    (["load", "--sample", "3"], "--sample needs --scenario"),
    (["load", "--tickets", "2", "--sample", "5", "--scenario", "seed/scenarios/lab.yaml"],
     "--sample 5 is more than --tickets 2"),
])
def test_load_refuses_a_sample_it_could_not_honour(args: list[str], message: str, tmp_path) -> None:
    result = CliRunner().invoke(cli, [*args, "--instance", str(tmp_path / "none.json")])
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize(("args", "swallowed", "option"), [
    (["run", "seed/scenarios/lab.yaml", "--json-file", "--seed"], "--seed", "--json-file"),
    (["run", "seed/scenarios/lab.yaml", "--junit", "--seed"], "--seed", "--junit"),
    (["run", "seed/scenarios/lab.yaml", "--evidence", "--require-mail"], "--require-mail", "--evidence"),
    (["report", "--output", "--json"], "--json", "--output"),
    (["purge", "--run", "-y"], "-y", "--run"),
    (["verify", "seed/scenarios/lab.yaml", "--run", "--json"], "--json", "--run"),
    (["seed", "seed/helpdesk.yaml", "--lock-wait", "--plan"], "--plan", "--lock-wait"),
])
def test_no_option_swallows_the_next_one(args: list[str], swallowed: str, option: str, tmp_path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path.parent)  # a file named like the option would land here
    repo = __import__("pathlib").Path(__file__).parents[2]
    argv = [str(repo / a) if a.startswith("seed/") else a for a in args]
    result = CliRunner().invoke(cli, [*argv, "--instance", str(tmp_path / "none.json")])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}': '{swallowed}' looks like an option" in result.output
    assert not (tmp_path.parent / swallowed).exists()


def test_run_json_is_a_flag_like_everywhere_else(tmp_path) -> None:
    """`run lab.yaml --json --seed` used to write its JSON to a file named --seed and not seed."""
    from automation.cli.scenario import run_command

    options = {opt: param for param in run_command.params for opt in param.opts}
    assert options["--json"].is_flag and options["--seed"].is_flag
    assert not options["--json-file"].is_flag
    result = CliRunner().invoke(cli, ["run", "seed/scenarios/lab.yaml", "--json", "--json-file", "x.json",
                                      "--instance", str(tmp_path / "none.json")])
    assert result.exit_code == 2
    assert "give one" in result.output


def test_json_is_a_flag_on_every_command() -> None:
    def walk(command, path="ostops"):
        import click

        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from walk(sub, f"{path} {name}")
        for param in command.params:
            if "--json" in getattr(param, "opts", []):
                yield path, param

    found = list(walk(cli))
    assert len(found) >= 9
    for path, param in found:
        assert param.is_flag, f"{path} --json takes a value"
