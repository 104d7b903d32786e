"""JSON type names of decoded values, for messages and type checks everywhere in the runtime."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

KINDS = {int: "integer", float: "number", Decimal: "number", str: "string", list: "array", dict: "object"}
"""A ``Decimal`` is a number a double cannot hold, decoded exactly (``spec.exactjson``)."""


def json_type(value: Any) -> str:
    """``"integer"`` for an int, ``"number"`` for a float, ``"value"`` for what JSON cannot hold."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return KINDS.get(type(value), "value")
