"""JSON type names of decoded values, for messages and type checks everywhere in the runtime."""

from __future__ import annotations

from typing import Any


def json_type(value: Any) -> str:
    """``"integer"`` for an int, ``"number"`` for a float, ``"value"`` for what JSON cannot hold."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {int: "integer", float: "number", str: "string", list: "array", dict: "object"}.get(type(value), "value")
