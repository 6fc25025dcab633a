"""Issue 23 on a real osTicket: on GitHub Actions a run whose expectation fails is annotated at the scenario's
file:line of the ticket's `expect:`, and its final review lands in the job summary as a Markdown table."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.osticket import OSTOPS, REPO

pytestmark = pytest.mark.e2e

SUBJECT = 'Printer "on fire" & < smoke — café 打印机'


def test_a_failed_expectation_is_an_annotation_and_the_review_is_in_the_job_summary(osticket: Any,
                                                                                    tmp_path: Path) -> None:
    scenario = tmp_path / "ci «check».yaml"
    scenario.write_text(yaml.safe_dump({
        "name": "CI check «é» & <co>",
        "seed": str(REPO / "seed" / "helpdesk.yaml"),
        "tickets": [{"key": "printer", "channel": "api", "topic": "Report a Problem", "subject": SUBJECT,
                     "message": "It's on fire.\nReally.",
                     "requester": {"name": "Zoë O'Brien", "email": "zoe.obrien@example.com"},
                     "steps": [{"as": "john.doe", "do": "reply", "text": "Looking at it now & soon."}],
                     "expect": {"status": "Closed"}}]}, allow_unicode=True, sort_keys=False), encoding="utf-8")
    expect_line = next(i for i, line in enumerate(scenario.read_text(encoding="utf-8").splitlines(), 1)
                       if line.strip() == "expect:")
    summary = tmp_path / "summary.md"
    env = {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary),
           "GITHUB_WORKSPACE": str(tmp_path)}
    result = subprocess.run([OSTOPS, "run", str(scenario), "--seed", "--json", "--instance",
                             str(osticket.instance_path)], capture_output=True, text=True, timeout=300,
                            cwd=REPO, env=env, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.lstrip().startswith("{") and "::error" not in result.stdout  # --json stays clean
    annotations = [line for line in result.stderr.splitlines() if line.startswith("::error")]
    assert annotations, result.stderr
    assert annotations[0].startswith(f"::error file=ci «check».yaml,line={expect_line},"
                                     "title=ostops%3A expectation not met::"), annotations
    assert "status: expected 'Closed', actual 'Open'" in annotations[0]
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("### ostops run: CI check «é» &amp; &lt;co&gt; - failed"), text
    row = next(line for line in text.splitlines() if line.startswith("| printer |"))
    assert "| Open |" in row and row.endswith("| **no** |"), row
    assert "tickets[0].expect: ticket printer" in text and "**Failures:**" in text
