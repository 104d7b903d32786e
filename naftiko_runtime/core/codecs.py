"""Request-body encoders and response decoders, one registry each, chosen when a plan is compiled.

An operation's ``body: {type: ...}`` picks an encoder (specification section 3.10) and its
``outputRawFormat`` picks a decoder; a format that is in neither registry is refused at load time
by name, never guessed at per request. A new format is one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson

from ..spec.expressions import render_scalar


def add_query(pairs: list[tuple[str, str]], name: str, value: Any) -> None:
    """D16: scalars as ``name=value``, arrays exploded, objects in deepObject style."""
    if value is None:
        return
    if isinstance(value, list):
        for item in value:
            add_query(pairs, name, item)
    elif isinstance(value, dict):
        for key, item in value.items():
            add_query(pairs, f"{name}[{key}]", item)
    else:
        pairs.append((name, render_scalar(value)))


@dataclass(frozen=True)
class Encoder:
    """Turns a rendered body value into bytes of one media type."""

    content_type: str
    encode: Callable[[Any], bytes]


def _json(data: Any) -> bytes:
    """A string is taken as JSON text already written by the author; anything else is encoded."""
    return data.encode() if isinstance(data, str) else orjson.dumps(data)


def _text(data: Any) -> bytes:
    return render_scalar(data if data is not None else "").encode()


def _form(data: Any) -> bytes:
    if not isinstance(data, dict):
        return _text(data)
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        add_query(pairs, key, value)
    return urlencode(pairs).encode()


ENCODERS: dict[str, Encoder] = {
    "json": Encoder("application/json", _json),
    "text": Encoder("text/plain; charset=utf-8", _text),
    "xml": Encoder("application/xml", _text),
    "sparql": Encoder("application/sparql-query", _text),
    "formUrlEncoded": Encoder("application/x-www-form-urlencoded", _form),
}
TEMPLATE_BODY = Encoder("application/json", lambda data: render_scalar(data).encode())
"""``body: "..."`` written as one string: the author's JSON text, with its templates rendered."""


class DecodeError(ValueError):
    """An upstream body that does not decode as its operation's ``outputRawFormat`` (502, D53)."""


@dataclass(frozen=True)
class Decoder:
    """Turns an upstream body into the structure the ``$.`` mappings read."""

    format: str
    """The ``outputRawFormat`` it reads."""
    name: str
    """How an error message names what the body should have been."""
    decode: Callable[[bytes], Any]


def _decode_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(str(exc)) from exc


DECODERS: dict[str, Decoder] = {
    "json": Decoder("json", "JSON", _decode_json),
}
