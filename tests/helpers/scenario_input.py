"""Bad scenario input, as the unit tests check it: every problem names the file and line, and the real
`ostops run` exits 2 with no traceback before it needs an instance."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from automation.errors import ScenarioError
from automation.scenarios.loader import load_scenario

OSTOPS = str(Path(sys.executable).parent / "ostops")


def assert_named_at(path: Path, text: str, line: int, words: str) -> None:
    """``text`` written to ``path`` is refused with a problem starting ``path:line`` and holding ``words``."""
    path.write_text(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    problems = caught.value.problems
    assert any(p.startswith(f"{path}:{line} ") and words in p for p in problems), problems


def run_refused(path: Path, text: str) -> str:
    """``ostops run`` of ``text`` (written to ``path``) exits 2 without a traceback; its standard error."""
    path.write_text(text)
    result = subprocess.run([OSTOPS, "run", str(path), "--instance", str(path.parent / "none.json")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr
