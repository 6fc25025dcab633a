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
