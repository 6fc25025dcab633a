"""Seed and scenario files above the documented limit (README "Files": 10 MB) are refused before they are read:
exit 2 naming the file and the limit. bench/input_size.py measures what loading costs below it."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from automation import yamlfile
from automation.errors import ScenarioError, SeedError
from automation.scenarios.loader import load_scenario
from automation.seeding.loader import load_seed
from tests.helpers.osticket import OSTOPS

LIMIT = "10,000,000 bytes (10 MB)"


@pytest.fixture
def huge(tmp_path: Path) -> Path:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:  # sparse: the size is what is refused, not the content
        handle.truncate(yamlfile.MAX_FILE_BYTES + 1)
    return path


def test_the_loaders_refuse_a_file_above_the_limit_at_once(huge: Path) -> None:
    started = time.monotonic()
    with pytest.raises(SeedError) as seed:
        load_seed(huge)
    with pytest.raises(ScenarioError) as scenario:
        load_scenario(huge)
    assert time.monotonic() - started < 1
    for error in (seed.value, scenario.value):
        assert f"{huge}: 10,000,001 bytes is larger than the {LIMIT}" in " ".join([str(error), *error.problems])


@pytest.mark.parametrize("command", [["seed", "--plan"], ["run"]])
def test_the_commands_exit_2_naming_the_file_and_the_limit(huge: Path, tmp_path: Path, command: list[str]) -> None:
    result = subprocess.run([OSTOPS, *command[:1], str(huge), *command[1:], "--instance", str(tmp_path / "none.json")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{huge}: 10,000,001 bytes is larger than the {LIMIT}" in " ".join(result.stderr.split())


def test_a_file_at_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "at-limit.yaml"
    body = "version: 1\nslas:\n  - {name: Sev-A, grace_hours: 1}\n"
    path.write_text(body + "#" * (yamlfile.MAX_FILE_BYTES - len(body) - 1) + "\n")
    assert path.stat().st_size == yamlfile.MAX_FILE_BYTES
    assert [s.name for s in load_seed(path).slas] == ["Sev-A"]


def test_duplicate_ticket_keys_are_found_in_linear_time() -> None:
    from automation.scenarios.loader import duplicate_keys
    from automation.scenarios.models import Scenario

    def cpu_seconds(count: int) -> float:
        tickets = [{"key": f"t{i}", "requester": {"name": "K", "email": "k@example.com"}, "subject": "s",
                    "message": "m"} for i in range(count)]
        tickets.append(dict(tickets[7]))
        scenario = Scenario.model_validate({"name": "n", "tickets": tickets})
        located = yamlfile.Located(Path("s.yaml"), None, {("tickets", i, "key"): 3 + 4 * i for i in range(count + 1)})
        started = time.process_time()
        problems = duplicate_keys(scenario, located)
        elapsed = time.process_time() - started
        assert problems == [(f"s.yaml:{3 + 4 * count} tickets[{count}].key: duplicate ticket key 't7': ticket 8 "
                             "at line 31 has it already; give each ticket a key of its own")]
        return elapsed

    # CPU time, not wall time: other work on the machine does not count. Ten times the tickets costs about ten
    # times the CPU when the check is linear; list.count per key made it a hundred times (minutes at 20,000).
    small = min(cpu_seconds(2_000) for _ in range(3))
    large = cpu_seconds(20_000)
    assert large / max(small, 1e-3) < 35, (small, large)  # list.count per key took minutes at this size
