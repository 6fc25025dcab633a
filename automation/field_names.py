"""The field names a pydantic model allows at a path of one of its errors (``("tickets", 0, "steps", 2, "note")``),
for the did-you-mean of an unknown field: through model fields, lists, dicts, optional values and unions (a
discriminated union's error path names its tag, ``note`` for the step ``do: note``; another union's names the
member's class)."""

from __future__ import annotations

import types
from collections.abc import Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

# A type reached by the walk, with the discriminator of the union it came from (None: not a discriminated union).
_Node = tuple[Any, str | None]
_SEQUENCES = (list, tuple, set, frozenset)


def field_names_at(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The names (and aliases) the models at ``loc`` accept; ``[]`` when ``loc`` leads to no model."""
    nodes: list[_Node] = [(model, None)]
    for part in loc:
        if isinstance(part, str) and part.startswith("function-"):  # a validator's wrapper, not a document key
            continue
        nodes = _child(_leaves(nodes), part)
    names: dict[str, None] = {}
    for tp, _ in _leaves(nodes):
        if _is_model(tp):
            names.update(dict.fromkeys(_accepted(tp)))
    return list(names)


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _leaves(nodes: list[_Node]) -> list[_Node]:
    """Annotated and union types flattened to their members (``None`` left out)."""
    found: list[_Node] = []
    for tp, discriminator in nodes:
        origin = get_origin(tp)
        if origin is Annotated:
            base, *metadata = get_args(tp)
            for meta in metadata:
                if isinstance(meta, FieldInfo) and isinstance(meta.discriminator, str):
                    discriminator = meta.discriminator
            found += _leaves([(base, discriminator)])
        elif origin is Union or origin is types.UnionType:
            found += _leaves([(arg, discriminator) for arg in get_args(tp) if arg is not type(None)])
        elif tp is not type(None):
            found.append((tp, discriminator))
    return found


def _child(leaves: list[_Node], part: str | int) -> list[_Node]:
    if len(leaves) > 1 and isinstance(part, str):
        chosen: list[_Node] = [(tp, None) for tp, discriminator in leaves if _is_member(tp, discriminator, part)]
        if chosen:
            return chosen
    found: list[_Node] = []
    for tp, _ in leaves:
        origin, args = get_origin(tp), get_args(tp)
        if _is_model(tp) and isinstance(part, str):
            info = _field(tp, part)
            if info is not None:
                found.append((info.annotation, info.discriminator if isinstance(info.discriminator, str) else None))
        elif origin in _SEQUENCES and isinstance(part, int) and args:
            found.append((args[0], None))
        elif origin is dict and len(args) == 2:
            found.append((args[1], None))
    return found


def _is_member(tp: Any, discriminator: str | None, part: str) -> bool:
    """Whether ``part`` of an error path is the union tag that chose ``tp``."""
    if not _is_model(tp):
        return False
    if discriminator is None:
        return bool(tp.__name__ == part)
    info = _field(tp, discriminator)
    return info is not None and get_origin(info.annotation) is Literal and part in get_args(info.annotation)


def _field(model: type[BaseModel], key: str) -> FieldInfo | None:
    for name, info in model.model_fields.items():
        if key in (name, info.alias, info.validation_alias):
            return info
    return None


def _accepted(model: type[BaseModel]) -> list[str]:
    by_name = bool(model.model_config.get("populate_by_name") or model.model_config.get("validate_by_name"))
    names: list[str] = []
    for name, info in model.model_fields.items():
        alias = info.validation_alias if isinstance(info.validation_alias, str) else info.alias
        if alias:
            names.append(alias)
        if not alias or by_name:
            names.append(name)
    return names
