"""The Linux workflow and the reusable composite action: actionlint-clean, every shell script in them clean under
shellcheck, and doing what a pipeline needs (set-up, a real osTicket, the run with JUnit and evidence, artefacts,
the final review in the job summary)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "lab.yml"
ACTION = REPO / "action.yml"


def tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is missing: run scripts/setup.sh (it installs the test tools)"
    return found


def actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("actionlint"), "-no-color", str(path)], capture_output=True, text=True, timeout=120,
                          check=False, cwd=REPO)


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def test_the_linux_workflow_is_actionlint_clean() -> None:
    result = actionlint(WORKFLOW)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_actionlint_checks_the_workflow_against_the_actions_inputs() -> None:
    # The workflow uses the action as `uses: ./`: actionlint reads action.yml and refuses an input it lacks.
    broken = REPO / ".github" / "workflows" / "zz-broken-test.yml"
    text = WORKFLOW.read_text(encoding="utf-8").replace("scenarios: seed/scenarios/lab.yaml",
                                                         "scenario: seed/scenarios/lab.yaml")
    broken.write_text(text, encoding="utf-8")
    try:
        result = actionlint(broken)
    finally:
        broken.unlink()
    assert result.returncode != 0
    assert 'input "scenario" is not defined in action "ostops osTicket check"' in result.stdout, result.stdout
    assert 'missing input "scenarios" which is required' in result.stdout, result.stdout


def scripts_of_the_action() -> list[tuple[str, str]]:
    steps = load(ACTION)["runs"]["steps"]
    return [(step.get("name", "?"), step["run"]) for step in steps if "run" in step]


@pytest.mark.parametrize(("name", "script"), scripts_of_the_action())
def test_every_script_of_the_action_is_shellcheck_clean(name: str, script: str) -> None:
    result = subprocess.run([tool("shellcheck"), "-s", "bash", "-"], input=script, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, f"{name}:\n{result.stdout}"


def test_shellcheck_does_report_a_broken_script() -> None:
    result = subprocess.run([tool("shellcheck"), "-s", "bash", "-"], input="files=($PATTERN)\necho $files\n",
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0


def test_every_composite_step_names_its_shell_and_takes_inputs_through_the_environment() -> None:
    action = load(ACTION)
    assert action["runs"]["using"] == "composite"
    assert action["inputs"]["scenarios"]["required"] is True
    for step in action["runs"]["steps"]:
        if "run" in step:
            assert step.get("shell") == "bash", step
            # No ${{ inputs.* }} inside a script: a value with a quote would become code (script injection).
            assert "${{" not in step["run"], step["run"]


def test_the_workflow_runs_the_lab_as_a_pipeline_needs_it() -> None:
    workflow = load(WORKFLOW)
    lab = workflow["jobs"]["lab"]
    assert lab["runs-on"] == "ubuntu-latest"
    runs = "\n".join(step.get("run", "") for step in lab["steps"])
    assert "scripts/setup.sh --lab" in runs
    # the cheap offline check first: no PHP, no MariaDB, no osTicket before a bad scenario fails the job
    assert runs.index("ostops validate seed/scenarios/*.yaml") < runs.index("scripts/setup.sh --lab")
    assert "ostops local up" in runs
    assert "ostops run seed/scenarios/lab.yaml --seed --junit results/junit.xml --evidence results/evidence" in runs
    assert "ostops report --format html --output results/report.html" in runs
    uploads = [s for s in lab["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    assert uploads and uploads[0]["if"] == "always()" and uploads[0]["with"]["path"] == "results/"
    action_job = workflow["jobs"]["action"]
    assert any(step.get("uses") == "./" for step in action_job["steps"])


def test_the_action_validates_first_leaves_the_summary_to_each_run_and_keeps_every_scenarios_verdict() -> None:
    run = next(script for name, script in scripts_of_the_action() if "scenarios" in name.lower())
    # offline validation of every scenario before the first ticket is made
    assert 'ostops" validate "${files[@]}"' in run
    assert run.index("validate") < run.index('"$ostops" run ')
    # `ostops run` appends its own final review to the job summary (automation/ci_output.py); a second copy
    # written by the action would repeat it
    assert "$GITHUB_STEP_SUMMARY" not in run
    assert '|| status=$?' in run and 'exit "$status"' in run  # one failing scenario does not hide the others
    assert "--junit" in run and "--seed" in run


def test_the_readme_shows_the_lines_a_user_copies() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "uses: " in readme and "scenarios: " in readme
    block = readme[readme.index("uses: ") - 200:readme.index("uses: ") + 200]
    assert "steps:" in block
