"""Avro response bodies (the ``avro`` extra: fastavro, in C): one datum in Avro's binary encoding.

``outputSchema`` names the ``.avsc`` file (relative to the capability file), read and parsed at
load time, as the reference engine's converter reads it per request. The datum becomes plain data
(records as objects, enums as their symbol, bytes and fixed as base64, logical types as text).
A schema with an array or map of items that take no bytes (``null``, an empty record) is refused
at load: a few bytes of body could then claim billions of items, and the C reader would count
them all.
"""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path
from typing import Any

from fastavro import schemaless_reader
from fastavro.schema import SchemaParseException, load_schema

from . import Decode, DecodeError, FormatSetupError, guarded, node_budget, plain, schema_file


def _zero_width(schema: Any, named: dict[str, Any], seen: frozenset[str] = frozenset()) -> bool:
    """Whether a value of this (parsed) schema can take no bytes at all."""
    if isinstance(schema, str):
        if schema == "null":
            return True
        if schema in named and schema not in seen:
            return _zero_width(named[schema], named, seen | {schema})
        return False
    if isinstance(schema, list):  # a union: its branch index always takes a byte
        return False
    if isinstance(schema, dict):
        kind = schema.get("type")
        if kind == "record":
            return all(_zero_width(f["type"], named, seen) for f in schema.get("fields", ()))
        if kind == "fixed":
            return int(schema.get("size", 1)) == 0
        if kind in ("array", "map", "enum"):
            return False
        return _zero_width(kind, named, seen)
    return False


def _unbounded_collections(schema: Any, named: dict[str, Any]) -> list[str]:
    """Arrays and maps whose items may take no bytes, by name for the error message."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for branch in node:
                walk(branch)
        elif isinstance(node, dict):
            kind = node.get("type")
            if kind == "record":
                named[node["name"]] = node
                for field in node.get("fields", ()):
                    walk(field["type"])
            elif kind in ("array", "map"):
                items = node["items"] if kind == "array" else node["values"]
                if _zero_width(items, named):
                    found.append(f"{kind} of {json.dumps(items)}")
                walk(items)
            elif isinstance(kind, dict | list):
                walk(kind)

    walk(schema)
    return found


def avro_decoder(schema: str | None, directory: Path) -> Decode:
    path = schema_file(schema, directory, "avro")
    try:
        parsed = load_schema(str(path))
    except (SchemaParseException, ValueError, KeyError, TypeError, OSError) as exc:
        raise FormatSetupError(f"outputSchema '{schema}' is not an Avro schema: {exc}") from exc
    unbounded = _unbounded_collections(parsed, {})
    if unbounded:
        raise FormatSetupError(
            f"outputSchema '{schema}': {', '.join(unbounded)} has items that take no bytes, so a small "
            "body could claim any number of them; this runtime refuses such schemas"
        )

    def decode(body: bytes) -> Any:
        stream = io.BytesIO(body)
        try:
            datum = schemaless_reader(stream, parsed, None)
        except (EOFError, ValueError, IndexError, KeyError, TypeError, OverflowError, struct.error) as exc:
            raise DecodeError(f"not an Avro datum of {schema}: {exc or type(exc).__name__}") from exc
        if stream.tell() != len(body):
            raise DecodeError(f"{len(body) - stream.tell()} bytes left over after the Avro datum of {schema}")
        return plain(datum, node_budget(body))

    return guarded(decode)
