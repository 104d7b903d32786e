"""Response formats other than JSON: each a pure ``bytes -> structure`` decoder.

The structure is what the reference engine's converters build (its ``Converter`` class), so that
the same ``$.`` mappings read the same values: XML as Jackson's ``XmlMapper`` tree, delimited text
as rows keyed by the header line, HTML and Markdown as ``{tables: [...]}`` (Markdown also
``frontMatter`` and ``sections``). Every decoder either returns JSON-compatible data or raises
``DecodeError``; the executor turns that into a 502 naming the format (D53).
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any


class DecodeError(ValueError):
    """An upstream body that does not decode as its operation's ``outputRawFormat`` (502, D53)."""


class FormatSetupError(ValueError):
    """An ``outputSchema`` that cannot be used (bad selector, unreadable schema file): a load-time
    error at that key, never a failure per request."""


Decode = Callable[[bytes], Any]


class _Budget:
    """How many nodes a decoded document may hold. YAML aliases (and a self-referencing anchor) let
    a few hundred bytes describe billions of nodes; counting while copying stops that early."""

    def __init__(self, nodes: int):
        self.left = nodes

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise DecodeError("the document expands to more nodes than its size allows (alias expansion)")


def node_budget(body: bytes) -> _Budget:
    """Generous for any document written out in full (a node costs at least one byte), tight for
    one that expands by reference."""
    return _Budget(4 * len(body) + 1024)


def plain(value: Any, budget: _Budget) -> Any:
    """A parsed value as JSON-compatible data: text keys, dates as ISO 8601 text, bytes as base64,
    sets as lists, integers beyond 64 bits as text. Aliased nodes are copied, each copy paid for from ``budget``."""
    budget.spend()
    if isinstance(value, dict):
        return {_key(k): plain(v, budget) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v, budget) for v in value]
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        return str(value)  # beyond what a JSON encoder writes as a number without losing digits
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool) or key is None:
        return {True: "true", False: "false", None: "null"}[key]
    if isinstance(key, datetime.date | datetime.time):
        return key.isoformat()
    return str(key)


def guarded(decode: Decode) -> Decode:
    """Deeply nested input must give a DecodeError, never a RecursionError (a 500)."""

    def run(body: bytes) -> Any:
        try:
            return decode(body)
        except RecursionError as exc:
            raise DecodeError("the document is nested too deeply") from exc

    return run


def schema_file(schema: str | None, directory: Path, what: str) -> Path:
    """The schema file an ``outputSchema`` names, beside the capability file (avro, protobuf: D77)."""
    if not schema:
        raise FormatSetupError(f"outputRawFormat {what} needs outputSchema: the path of its schema file")
    path = directory / schema
    if not path.is_file():
        raise FormatSetupError(f"outputSchema '{schema}': no such file ({path})")
    return path
