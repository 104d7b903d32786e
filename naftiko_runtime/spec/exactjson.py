"""JSON whose numbers are exact (issue 20, item 4), at orjson's speed for the documents that allow it.

orjson holds integers in 64 bits and numbers in doubles: it decodes ``-882479421906516180992`` as
a float, rounds ``0.1000000000000000055511151231257827`` and refuses to encode ``2**64``. A
gateway must pass numbers on unchanged (D14), so:

- ``loads`` gives orjson the documents that cannot hold such a number (no run of 16 digits and
  dots, no negative exponent: a double holds any decimal of at most 15 significant digits), and the
  others, or those orjson refuses (``1e400``), to the standard library, with integers of any size
  and a number a double cannot hold as a ``Decimal`` of its exact text;
- ``dumps`` lets orjson encode (a ``Decimal`` as its text, through ``default``), and only when it
  refuses an integer beyond 64 bits encodes that value again with those integers written as text.

A number keeps its value, not always its spelling: ``1.10`` comes back as ``1.1`` and ``1E2`` as
``100.0``, the same numbers. The common path pays one ``bytes.translate`` and two substring
searches per decoded body (``benchmarks/exact_json.py`` measures it beside orjson); a regular
expression cost ten times that.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import msgspec
import orjson

NUMBER_SHAPES = bytes(
    ord("0") if chr(c) in "0123456789." else ord("e") if chr(c) in "eE" else ord("-") if chr(c) == "-" else ord(" ")
    for c in range(256)
)
"""Every byte of a document as the part of a number it could be: digit (and dot), exponent, minus."""
LONG_NUMBER = b"0" * 16
"""16 digits (or 15 and a dot): the shortest text whose value a double may not hold (``1234567890123457e5``
needs 16 significant digits), and shorter than any integer beyond 64 bits (19 digits)."""
NEGATIVE_EXPONENT = b"e-000"
"""A number that may underflow (``1e-400`` decodes to 0.0): a negative exponent of three digits or
more, rare enough to always take the exact path. Two digits cannot underflow: with at most 15
characters before the exponent (else ``LONG_NUMBER``) the value is at least 1e-114, far inside a
double's normal range, where a decimal of 15 significant digits survives the round trip. Any ``0e-``
took this path before (issue 22): it caught every hexadecimal UUID with a digit before an ``e``
at the end of a group (``1d9e-4b3a``), so a pass-through of such a list decoded three times slower."""
_SYNTAX = msgspec.json.Decoder(msgspec.Raw)
"""Decodes a document into a view of its own bytes: the syntax checked, nothing built."""
INTEGER_TEXT = re.compile(r"^[+-]?\d+$")
NUMBER_TEXT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
BIG_INTEGER = "Integer exceeds 64-bit range"
"""orjson's message for an integer it cannot encode (``orjson.JSONEncodeError``)."""
MAX_DEPTH = 254
"""orjson encodes no deeper: the rewrite of big integers stops there too."""


class ExactDecodeError(ValueError):
    """The text is not JSON (the message says where), whichever decoder read it."""


def exact_float(text: str) -> float | Decimal:
    """A JSON (or URL) number as a float when the float has its value, else as its exact ``Decimal``;
    ``ValueError`` for one whose exponent not even a ``Decimal`` holds (``1e40000000000000000000``):
    it cannot be passed on with its value, so it is refused with a message, not a traceback."""
    number = float(text)
    try:
        if number not in (float("inf"), float("-inf")) and Decimal(repr(number)) == Decimal(text):
            return number
        return Decimal(text)
    except ArithmeticError:
        raise ValueError(f"the number {text[:40]} has an exponent beyond any the gateway can hold") from None


def number_from_text(text: str) -> int | float | Decimal | None:
    """A number as a URL, header or template writes it, exactly: an ``int`` of any size, else as
    ``exact_float``; ``None`` for anything else (``nan``, ``inf``, ``0x10``, ``1_000``, which
    Python's ``float`` would take). Raises ``ValueError`` beyond ``sys.get_int_max_str_digits()``."""
    text = text.strip()
    if INTEGER_TEXT.match(text):
        return int(text)
    return exact_float(text) if NUMBER_TEXT.match(text) else None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(data: bytes | str) -> Any:
    """A JSON document with exact numbers; raises ``ExactDecodeError``."""
    raw = data.encode() if isinstance(data, str) else data
    shapes = raw.translate(NUMBER_SHAPES)
    if LONG_NUMBER not in shapes and NEGATIVE_EXPONENT not in shapes:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # an exponent beyond a double's range, or not JSON: the exact parser says which
    try:
        text = raw.decode("utf-8")
        return json.loads(text, parse_float=exact_float, parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ExactDecodeError(str(exc) or type(exc).__name__) from exc


def check(data: bytes) -> None:
    """That ``data`` is one JSON document, its value not wanted (a pass-through's well-formedness,
    D46, D158); raises ``ExactDecodeError`` as ``loads`` would. msgspec's decode into ``Raw`` checks
    the syntax and builds nothing (a full decode was a seventh of a pass-through); it does not check
    the text's encoding, so non-ASCII text must also be UTF-8 (which refuses lone surrogates). What
    it refuses, ``loads`` reads: it accepts what only the exact parser takes (an escaped lone
    surrogate, ``1e400``) or says where the text is not JSON."""
    try:
        if not data.isascii():
            data.decode("utf-8")
        _SYNTAX.decode(data)
        return
    except (UnicodeDecodeError, msgspec.DecodeError, RecursionError):
        pass
    loads(data)


def _decimal(value: Any) -> Any:
    if isinstance(value, Decimal) and value.is_finite():
        return orjson.Fragment(str(value))
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def _big_integers_as_text(value: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise orjson.JSONEncodeError("Recursion limit reached")
    if isinstance(value, int) and not isinstance(value, bool):
        return orjson.Fragment(str(value)) if not -(2**63) <= value < 2**64 else value
    if isinstance(value, dict):
        return {key: _big_integers_as_text(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_big_integers_as_text(item, depth + 1) for item in value]
    return value


def dumps(value: Any) -> bytes:
    """JSON bytes of ``value``, integers of any size and ``Decimal``s included; raises
    ``orjson.JSONEncodeError`` (a ``TypeError``) for what JSON cannot hold, as ``orjson.dumps`` does."""
    try:
        return orjson.dumps(value, default=_decimal)
    except orjson.JSONEncodeError as exc:
        if str(exc) != BIG_INTEGER:
            raise
    return orjson.dumps(_big_integers_as_text(value), default=_decimal)


def scalar_text(value: Any) -> str:
    """How a value reads inside a URL, header or template (D14): a string as it is, anything else
    as its JSON text (``true``, ``12``, ``{"a":1}``), integers of any size included."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return dumps(value).decode()
