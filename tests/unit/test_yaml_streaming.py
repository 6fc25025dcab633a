"""Values built from libyaml's events (yamlfile._parse_streaming) equal those built from the composed node tree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from automation import yamlfile
from automation.errors import YamlFileError

CASES = [
    "a: {b: [c, {d: e}], f: null, g: ~, h: 2001-13-45, i: 0x1f, j: '1'}\n",
    "l: [&q 1, *q, *q]\nm: &m {x: 1}\nn: [*m, *m]\n",
    "a: &x [1, *x]\n",
    "? [a]\n: 1\nb: 2\n",
    "<<: {a: 1}\nb: 2\n",
    "a: !!binary aGk=\nb: !custom {c: 1}\nc: &t !custom [*t]\n",
    "a: 1\na: 2\nb: {c: 1, c: 2}\n",
    "!!str 1: x\n!!int k: y\nz: !!float w\n",
    "{&k a: 1, *k : 2}\n",
    "= : 1\na: =\n",
    "---\n",
    "tickets:\n  - key: t1\n    steps:\n      - {as: john, do: note, text: hi}\n",
]


def _outcome(text: str, streaming: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    if not streaming:
        def refuse(text: str, file: Path) -> yamlfile.Located:
            raise yaml.YAMLError("composed path")
        monkeypatch.setattr(yamlfile, "_parse_streaming", refuse)
    try:
        located = yamlfile.parse(text, "f.yaml")
    except YamlFileError as exc:
        return str(exc), exc.problems
    finally:
        monkeypatch.undo()
    return located.data, located.lines, located.problems


@pytest.mark.skipif(yamlfile._FastLoader is None, reason="PyYAML without libyaml")
@pytest.mark.parametrize("text", CASES)
def test_streaming_gives_the_values_lines_and_problems_of_the_node_tree(
        text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _outcome(text, True, monkeypatch) == _outcome(text, False, monkeypatch)


@pytest.mark.skipif(yamlfile._FastLoader is None, reason="PyYAML without libyaml")
def test_streaming_is_what_reads_a_good_file() -> None:
    located = yamlfile._parse_streaming("a:\n  - b: 1\n", Path("f.yaml"))
    assert located.data == {"a": [{"b": 1}]}
    assert located.lines == {(): 1, ("a",): 1, ("a", 0): 2, ("a", 0, "b"): 2}


@pytest.mark.skipif(yamlfile._FastLoader is None, reason="PyYAML without libyaml")
def test_streaming_leaves_a_broken_file_to_the_parser_that_words_its_error() -> None:
    with pytest.raises(yaml.YAMLError):
        yamlfile._parse_streaming("a: *nope\n", Path("f.yaml"))
    with pytest.raises(YamlFileError, match="undefined alias"):
        yamlfile.parse("a: *nope\n", "f.yaml")
