"""Enumerations written in any case: ``priority: high``, ``HIGH`` and ``High`` are one value, kept in the one
spelling the docs use (the first-letter capital osTicket shows for priorities and statuses, lower case for the
rest). The JSON Schema says the same with a case-insensitive pattern (JSON Schema has no case-insensitive enum)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema


def case_pattern(values: tuple[str, ...]) -> str:
    """``^(?:[Hh][Ii][Gg][Hh]|…)$``: the values in any case, for editors' JSON Schema validation."""
    def letters(value: str) -> str:
        return "".join(f"[{c.upper()}{c.lower()}]" if c.upper() != c.lower() else re.escape(c) for c in value)
    return "^(?:" + "|".join(letters(v) for v in values) + ")$"


class AnyCase:
    """``Annotated[Literal["Low", "High"], AnyCase()]``: any case in, the Literal's spelling out."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        values = tuple(str(v) for v in get_args(source))
        canonical = {v.casefold(): v for v in values}

        def fold(value: Any) -> Any:
            return canonical.get(value.casefold(), value) if isinstance(value, str) else value

        return core_schema.no_info_before_validator_function(fold, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        values = tuple(str(v) for v in schema.get("schema", {}).get("expected", ()))
        return {"type": "string", "pattern": case_pattern(values), "examples": list(values),
                "description": f"One of {', '.join(values)} (any case)."}


# osTicket's four priorities (ost_ticket_priority, as the staff panel shows them).
Priority = Annotated[Literal["Low", "Normal", "High", "Emergency"], AnyCase()]
