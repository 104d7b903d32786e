"""``outputRawFormat: kv``: ``key=value`` lines, decoded into an object."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from naftiko_runtime.core.codecs import Format
from naftiko_runtime.core.formats import Decode, DecodeError


def decode_kv(body: bytes) -> Any:
    document: dict[str, str] = {}
    for number, line in enumerate(body.decode("utf-8", errors="replace").splitlines(), 1):
        if line.strip():
            key, equals, value = line.partition("=")
            if not equals:
                raise DecodeError(f"line {number} is not key=value")
            document[key.strip()] = value.strip()
    return document


def _build(schema: str | None, directory: Path) -> Decode:
    return decode_kv


KV = Format("kv", "key=value lines", _build)
