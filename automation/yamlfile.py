"""YAML files whose errors name the file, the line and the path (``lab.yaml:12 tickets[0].steps[2].sla``)."""

from __future__ import annotations

import contextlib
import gc
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from automation.errors import YamlFileError
from automation.field_names import field_names_at
from automation.suggest import by_line, count, did_you_mean

Path_ = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Located:
    """A parsed YAML document with the line of every node, keyed by its path."""

    file: Path
    data: Any
    lines: dict[Path_, int]
    # Problems that left the document readable (duplicate keys: the last value is kept), reported together with
    # the schema's problems instead of hiding them.
    problems: list[str] = field(default_factory=list)

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



# The largest seed or scenario file read (README "Files"): below it loading is linear, about 0.7 s and 30 MB
# per MB (bench/input_size.py); above it the file is refused before it is read.
MAX_FILE_BYTES = 10_000_000


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a file's values are built: its full collections walk every
    live object, and a large file allocates millions of them, so loading grew faster than the file (x2.2 the
    CPU time for x2 the size, measured; linear without). A loaded file holds no garbage cycles to collect."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load(path: Path) -> Located:
    """Read and parse ``path``; every way it can be unusable is a ``YamlFileError`` naming the file."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise YamlFileError(f"{path}: {size:,} bytes is larger than the {MAX_FILE_BYTES:,} bytes (10 MB) a seed "
                                "or scenario file may have; split it into several files")
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)  # a file that grows while it is read is held to the limit too
    except OSError as exc:
        raise YamlFileError(f"{path}: cannot read it: {exc.strerror or exc}") from exc
    if len(raw) > MAX_FILE_BYTES:
        raise YamlFileError(f"{path}: larger than the {MAX_FILE_BYTES:,} bytes (10 MB) a seed or scenario file may "
                            "have; split it into several files")
    return parse(decode(raw, path), path)


def decode(raw: bytes, source: Path | str) -> str:
    """UTF-8 text (a leading byte-order mark is allowed), or a ``YamlFileError`` naming the line of the bad byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise YamlFileError(f"{source}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
                            "save the file as UTF-8") from None


TAG_PREFIX = "tag:yaml.org,2002:"
_MAP, _SEQ, _MERGE = f"{TAG_PREFIX}map", f"{TAG_PREFIX}seq", f"{TAG_PREFIX}merge"
# Plain values only: no Python objects, no custom tags, no binary, sets or ordered maps.
_SCALAR_TAGS = {f"{TAG_PREFIX}{name}": name for name in ("null", "bool", "int", "float", "str")}
# Text as written: dates (no model field is a date), and a lone "=" or "<<" as a value.
_AS_TEXT = {f"{TAG_PREFIX}timestamp", f"{TAG_PREFIX}value", _MERGE}
# Aliases may repeat a node; a handful of them nested can stand for billions of nodes ("billion laughs"). The
# values a file's aliases repeat, in all, are limited; the values written out are limited by the file's size.
ALIAS_LIMIT = 100_000


class _Loader(yaml.SafeLoader):
    """SafeLoader whose dates stay text: no model field is a date, and ``2001-13-45`` must not crash the parser."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != f"{TAG_PREFIX}timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

# libyaml's parser (PyYAML's C extension) composes the same nodes some 10 times faster than PyYAML's pure-Python
# scanner, which took most of a large file's load time; its resolver is PyYAML's own, so dates stay text alike.
# A file it refuses is parsed again by the pure-Python parser, whose messages the error reports use.
_FastLoader: type | None = None
if getattr(yaml, "__with_libyaml__", False):
    class _CLoader(yaml.CSafeLoader):
        pass

    _CLoader.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers
    _FastLoader = _CLoader


def _show_tag(tag: str) -> str:
    return f"!!{tag.removeprefix(TAG_PREFIX)}" if tag.startswith(TAG_PREFIX) else tag


def parse(text: str, source: Path | str) -> Located:
    file = Path(source)
    if _FastLoader is not None:
        with contextlib.suppress(yaml.YAMLError, RecursionError):  # parsed again below, which names the problem
            return _parse_streaming(text, file)
    node: yaml.Node | None = None
    composed = False
    if _FastLoader is not None:
        with contextlib.suppress(yaml.YAMLError, RecursionError):  # the pure-Python parser names the problem
            node, composed = yaml.compose(text, Loader=_FastLoader), True
    try:
        if not composed:
            node = yaml.compose(text, Loader=_Loader)
    except yaml.reader.ReaderError as exc:
        at = text[:exc.position].count("\n") + 1
        raise YamlFileError(f"{source}:{at}: invalid YAML: the control character #x{exc.character:04x} is not "
                            "allowed in YAML text; remove it") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        detail = f"{context}, {problem}" if context else problem
        raise YamlFileError(f"{source}{line}: invalid YAML: {detail}") from exc
    except RecursionError:
        raise YamlFileError(f"{source}: invalid YAML: nested too deeply; flatten the file") from None
    if node is None:
        return Located(file, None, {})
    builder = _Builder(str(source))
    try:
        data = builder.construct(node, (), frozenset())
    except RecursionError:
        raise YamlFileError(f"{source}: invalid YAML: nested too deeply; flatten the file") from None
    except _TooBig as big:
        raise YamlFileError(too_many_aliases(source, big.line)) from None
    finally:
        builder.loader.dispose()
    if builder.problems:
        raise YamlFileError(f"{source}: {builder.summary()}", by_line(builder.problems + builder.duplicates))
    return Located(file, data, builder.lines, builder.duplicates)


def _parse_streaming(text: str, file: Path) -> Located:
    """``parse`` from libyaml's events: values are built as the events arrive, so the file's node tree (some
    40 bytes of text cost 2 nodes and 4 marks) never exists whole; at 5 MB it was most of the peak memory."""
    builder = _StreamBuilder(str(file), text)
    try:
        found, data = builder.document()
    except RecursionError:
        raise YamlFileError(f"{file}: invalid YAML: nested too deeply; flatten the file") from None
    except _TooBig as big:
        raise YamlFileError(too_many_aliases(file, big.line)) from None
    finally:
        builder.parser.dispose()
        builder.loader.dispose()
    if not found:
        return Located(file, None, {})
    if builder.problems:
        raise YamlFileError(f"{file}: {builder.summary()}", by_line(builder.problems + builder.duplicates))
    return Located(file, data, builder.lines, builder.duplicates)


def too_many_aliases(source: Path | str, line: int) -> str:
    return (f"{source}:{line}: too many alias expansions: the aliases (*name) repeat more than {ALIAS_LIMIT:,} "
            f"values (limit {ALIAS_LIMIT:,}); write the repeated values out, or nest fewer aliases in each other")


class _TooBig(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


class _Builder:
    """Builds Python values from a composed node tree, recording lines and collecting every problem."""

    def __init__(self, source: str) -> None:
        self.source = source
        # The lists and mappings built so far (held, so that no other node takes their id): met again, an alias
        # repeats them.
        self.built: dict[int, yaml.Node] = {}
        self.repeating = 0  # how many aliases deep the value being built is
        self.repeated = 0  # values built again through aliases, in all (at most ALIAS_LIMIT)
        self.at = 1  # the line of the last value written out: where an alias that repeats a value stands
        self.loader = _Loader("")  # constructs scalars with YAML's own typing rules (dates stay text)
        self.lines: dict[Path_, int] = {}
        self.problems: list[str] = []
        self.duplicates: list[str] = []

    def summary(self) -> str:
        return count(len(self.problems) + len(self.duplicates))

    def problem(self, node: yaml.Node, path: Path_, message: str) -> None:
        self.problems.append(f"{self.source}:{node.start_mark.line + 1} {format_path(path) or '(top)'}: {message}")

    def construct(self, node: yaml.Node, path: Path_, ancestors: frozenset[int]) -> Any:
        self.lines[path] = node.start_mark.line + 1
        if id(node) in ancestors:
            self.problem(node, path, "this alias (*name) refers to a value that contains it; "
                                     "YAML that refers to itself is not supported")
            return None
        collection = isinstance(node, yaml.CollectionNode)
        again = collection and id(node) in self.built  # an alias repeats a list or mapping
        if self.repeating or again:
            self.repeated += 1
            if self.repeated > ALIAS_LIMIT:
                raise _TooBig(self.at)
        else:
            self.at = node.start_mark.line + 1
        self.repeating += again
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path, ancestors | {id(node)})
            if isinstance(node, yaml.SequenceNode):
                if node.tag != _SEQ:
                    return self._bad_tag(node, path)
                inner = ancestors | {id(node)}
                return [self.construct(item, (*path, i), inner) for i, item in enumerate(node.value)]
            return self._scalar(node, path)
        finally:
            self.repeating -= again
            if collection:
                self.built[id(node)] = node

    def _mapping(self, node: yaml.MappingNode, path: Path_, ancestors: frozenset[int]) -> Any:
        if node.tag != _MAP:
            return self._bad_tag(node, path)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                self.problem(key_node, path, "merge keys (<<: *name) are not supported; write the fields out")
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                kind = "a list" if isinstance(key_node, yaml.SequenceNode) else "a mapping"
                self.problem(key_node, path, f"a key must be a plain name, not {kind} (is a '?' or a "
                                             "mis-indented line the cause?)")
                continue
            before = len(self.problems)
            key = self._scalar(key_node, path)
            if len(self.problems) > before:  # the key itself was refused (a tag); its value cannot be placed
                continue
            line = key_node.start_mark.line + 1
            if key in result:
                self.duplicates.append(f"{self.source}:{line} {format_path((*path, key))}: duplicate key {key!r}")
            if not self.repeating:
                self.at = line
            result[key] = self.construct(value_node, (*path, key), ancestors)
            self.lines[(*path, key)] = line
        return result

    def _scalar(self, node: yaml.Node, path: Path_) -> Any:
        if node.tag in _AS_TEXT:
            return str(node.value)
        if node.tag not in _SCALAR_TAGS:
            return self._bad_tag(node, path)
        try:
            value = self.loader.construct_object(node, deep=True)
            self.loader.constructed_objects.pop(node, None)  # the constructor's cache would keep every node
            return value
        except (yaml.YAMLError, ValueError, TypeError, KeyError):
            self.problem(node, path, f"{node.value!r} is not a valid {_SCALAR_TAGS[node.tag]}; remove the "
                                     f"{_show_tag(node.tag)} tag or fix the value")
            return None

    def _bad_tag(self, node: yaml.Node, path: Path_) -> None:
        self.problem(node, path, f"unsupported YAML tag {_show_tag(node.tag)}; remove it "
                                 "(only plain text, numbers, true/false, lists and mappings are allowed)")


class _Composer(yaml.composer.Composer, yaml.resolver.Resolver):
    """PyYAML's composer and resolver (dates stay text) on the events of libyaml's parser."""

    yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers

    def __init__(self, parser: Any) -> None:
        yaml.composer.Composer.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self.check_event = parser.check_event
        self.peek_event = parser.peek_event
        self.get_event = parser.get_event


class _StreamBuilder(_Builder):
    """``_Builder`` fed by libyaml's events: a node is composed (``yaml.composer``'s own code, on these events) only
    where one is needed again or reported as it is: anchored values (for their aliases), keys that are not plain
    text and values with a tag other than the plain ones. The same values, lines and problems as ``_Builder``
    on the composed tree; a file libyaml or the composer refuses raises ``yaml.YAMLError``."""

    def __init__(self, source: str, text: str) -> None:
        super().__init__(source)
        assert _FastLoader is not None
        self.parser: Any = _FastLoader(text)
        self.composer = _Composer(self.parser)

    def document(self) -> tuple[bool, Any]:
        """(False, None) for a file without a document, else (True, its value)."""
        parser = self.parser
        parser.get_event()  # stream start
        if parser.check_event(yaml.StreamEndEvent):
            return False, None
        parser.get_event()  # document start
        data = self.value(())
        parser.get_event()  # document end
        if not parser.check_event(yaml.StreamEndEvent):
            raise yaml.composer.ComposerError("expected a single document in the stream")
        return True, data

    def _node(self) -> yaml.Node:
        """The next node, composed, after its events."""
        parser = self.parser
        event: Any = parser.peek_event()
        kind = type(event)  # compared, not isinstance: the stubs type libyaml's marks apart from PyYAML's
        if kind is yaml.ScalarEvent and event.anchor is None:
            parser.get_event()
            tag = event.tag
            if tag is None or tag == "!":
                tag = self.composer.resolve(yaml.ScalarNode, event.value, event.implicit)
            return yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
        # parent and index only feed path resolvers, and there are none
        node = self.composer.compose_node(None, None)  # type: ignore[arg-type]
        assert node is not None  # the next event starts a node: ends are consumed by their container
        return node

    def value(self, path: Path_) -> Any:
        parser = self.parser
        event = parser.peek_event()
        kind = type(event)
        if kind is yaml.AliasEvent:
            self.at = event.start_mark.line + 1
        if kind is yaml.ScalarEvent or kind is yaml.AliasEvent or event.anchor is not None:
            return self.construct(self._node(), path, frozenset())
        sequence = kind is yaml.SequenceStartEvent
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.composer.resolve(yaml.SequenceNode if sequence else yaml.MappingNode, None, event.implicit)
        if tag != (_SEQ if sequence else _MAP):
            return self.construct(self._node(), path, frozenset())
        parser.get_event()
        self.lines[path] = event.start_mark.line + 1
        self.at = event.start_mark.line + 1
        if sequence:
            items: list[Any] = []
            while not parser.check_event(yaml.SequenceEndEvent):
                items.append(self.value((*path, len(items))))
            parser.get_event()
            return items
        result: dict[Any, Any] = {}
        while not parser.check_event(yaml.MappingEndEvent):
            key_node = self._node()
            if key_node.tag == _MERGE:
                self.problem(key_node, path, "merge keys (<<: *name) are not supported; write the fields out")
                self._node()
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                kind_ = "a list" if isinstance(key_node, yaml.SequenceNode) else "a mapping"
                self.problem(key_node, path, f"a key must be a plain name, not {kind_} (is a '?' or a "
                                             "mis-indented line the cause?)")
                self._node()
                continue
            before = len(self.problems)
            key = self._scalar(key_node, path)
            if len(self.problems) > before:  # the key itself was refused (a tag); its value cannot be placed
                self._node()
                continue
            line = key_node.start_mark.line + 1
            if key in result:
                self.duplicates.append(f"{self.source}:{line} {format_path((*path, key))}: duplicate key {key!r}")
            self.at = line
            result[key] = self.value((*path, key))
            self.lines[(*path, key)] = line
        parser.get_event()
        return result


def validation_problems(located: Located, exc: ValidationError, model: type[BaseModel] | None = None) -> list[str]:
    """Every pydantic error as ``file:line path: message`` (``model``: the one validated, for unknown fields)."""
    problems = []
    for error in exc.errors():
        loc = [part for part in error["loc"] if not (isinstance(part, str) and part.startswith("function-"))]
        # Tagged unions add the tag as a path element; drop parts that are not keys of the document.
        cleaned: list[str | int] = []
        for index, part in enumerate(loc):
            last = index == len(loc) - 1
            if (*cleaned, part) in located.lines or isinstance(part, int) or (last and error["type"] == "missing"):
                cleaned.append(part)
        if error["type"] == "union_tag_invalid":  # point at the tag's own key (do:), not its step
            tag_key = str(error.get("ctx", {}).get("discriminator", "")).strip("'")
            if (*cleaned, tag_key) in located.lines:
                cleaned.append(tag_key)
        problems.append(f"{located.where(cleaned)}: {pydantic_message(error, model)}")
    return problems


def pydantic_message(error: Any, model: type[BaseModel] | None = None) -> str:
    """One pydantic error in the words the seed and scenario loaders share; with the validated ``model``, an
    unknown field gets a did-you-mean from the fields allowed where it is."""
    message = str(error["msg"]).removeprefix("Value error, ")
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        *at, name = error["loc"] or ("",)
        known = field_names_at(model, at) if model is not None else []
        return f"unknown field {str(name)!r}{did_you_mean(str(name), known)}"
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        tags = [tag.strip(" '") for tag in str(ctx.get("expected_tags", "")).split(",") if tag.strip(" '")]
        what = "action" if ctx.get("discriminator") == "'do'" else "kind"
        tag = str(ctx.get("tag", ""))
        return (f"unknown {what} {tag!r}{did_you_mean(tag, tags)}; the valid {what}s are "
                f"{', '.join(tags[:-1])} and {tags[-1]}" if len(tags) > 1 else f"unknown {what} {tag!r}")
    value = error.get("input")
    field_name = next((str(part) for part in reversed(error.get("loc") or ()) if isinstance(part, str)), "")
    if kind == "value_error" and message.startswith(_NOT_AN_EMAIL):  # pydantic's EmailStr (email-validator's reason)
        reason = re.sub(r"\. (\w)", lambda m: f"; {m.group(1).lower()}", message.removeprefix(_NOT_AN_EMAIL).strip())
        reason = reason.rstrip(".")
        return f"{value!r} is not an e-mail address ({reason[:1].lower()}{reason[1:]}); write it as name@example.com"
    if kind == "string_pattern_mismatch" and field_name.endswith("email"):
        return f"{value!r} is not an e-mail address; write it as name@example.com"
    if kind == "too_short" and isinstance(value, list) and not value:
        return f"no {field_name or 'entries'}: the list is empty; add at least one"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"expected fields here (`name: value` lines), not {_described(value)}"
    if kind != "value_error" and "input" in error and not isinstance(value, dict | list):
        return f"{message} (got {value!r})"
    return message


_NOT_AN_EMAIL = "value is not a valid email address:"


def _described(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text {value!r}"
    return f"the value {value!r}"


def parse_model(located: Located, model: type[M]) -> tuple[M | None, list[str]]:
    """The model, or None and every problem of the file (its duplicate keys too), in the order of their lines."""
    try:
        parsed = model.model_validate(located.data)
    except ValidationError as exc:
        return None, by_line(located.problems + validation_problems(located, exc, model))
    return (None, list(located.problems)) if located.problems else (parsed, [])
