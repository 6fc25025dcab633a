"""YAML files whose errors name the file, the line and the path (``lab.yaml:12 tickets[0].steps[2].sla``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Path_ = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Located:
    """A parsed YAML document with the line of every node, keyed by its path."""

    file: Path
    data: Any
    lines: dict[Path_, int]

    def line(self, path: Sequence[str | int]) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        key = tuple(path)
        while key and key not in self.lines:
            key = key[:-1]
        return self.lines.get(key, 1)

    def where(self, path: Sequence[str | int]) -> str:
        return f"{self.file}:{self.line(path)} {format_path(path) or '(top)'}"


def format_path(path: Sequence[str | int]) -> str:
    """``("teams", 0, "members", 1)`` → ``teams[0].members[1]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class YamlFileError(Exception):
    """The file cannot be read or is not valid YAML; ``problems`` lists every problem found."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or [message]


def load(path: Path) -> Located:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlFileError(f"{path}: not UTF-8 text") from exc
    except OSError as exc:
        raise YamlFileError(f"{path}: cannot read it: {exc.strerror or exc}") from exc
    return parse(text, path)


def parse(text: str, source: Path | str) -> Located:
    file = Path(source)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        detail = f"{context}, {problem}" if context else problem
        raise YamlFileError(f"{source}{line}: invalid YAML: {detail}") from exc
    lines: dict[Path_, int] = {}
    duplicates: list[str] = []
    loader = yaml.SafeLoader("")  # constructs scalars with YAML's own typing rules
    try:
        data = _construct(loader, node, (), lines, duplicates, str(source)) if node is not None else None
    finally:
        loader.dispose()
    if duplicates:
        raise YamlFileError(f"{source}: duplicate keys", duplicates)
    return Located(file, data, lines)


def _construct(loader: yaml.SafeLoader, node: yaml.Node, path: Path_, lines: dict[Path_, int],
               duplicates: list[str], source: str) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in result:
                duplicates.append(f"{source}:{line} {format_path((*path, key))}: duplicate key {key!r}")
            result[key] = _construct(loader, value_node, (*path, key), lines, duplicates, source)
            lines[(*path, key)] = line
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(loader, item, (*path, i), lines, duplicates, source) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def validation_problems(located: Located, exc: ValidationError) -> list[str]:
    """Every pydantic error as ``file:line path: message``."""
    problems = []
    for error in exc.errors():
        loc = [part for part in error["loc"] if not (isinstance(part, str) and part.startswith("function-"))]
        # Tagged unions add the tag as a path element; drop parts that are not keys of the document.
        cleaned: list[str | int] = []
        for index, part in enumerate(loc):
            last = index == len(loc) - 1
            if (*cleaned, part) in located.lines or isinstance(part, int) or (last and error["type"] == "missing"):
                cleaned.append(part)
        problems.append(f"{located.where(cleaned)}: {error['msg']}")
    return problems


def parse_model(located: Located, model: type[M]) -> tuple[M | None, list[str]]:
    try:
        return model.model_validate(located.data), []
    except ValidationError as exc:
        return None, validation_problems(located, exc)
