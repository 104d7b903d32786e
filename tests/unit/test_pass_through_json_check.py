"""D46, D158: a REST pass-through proves the upstream body is JSON with ``exactjson.check``, which
builds nothing; it must accept exactly what ``exactjson.loads`` (the value-keeping path every other
answer takes) accepts, and refuse with the same message.

msgspec's ``Raw`` decode checks the syntax but not the text's encoding: these properties would fail
with the UTF-8 check removed (invalid bytes inside a string, an encoded lone surrogate), and with
the fallback to ``loads`` removed (an escaped lone surrogate and ``1e400`` are JSON that only the
exact parser takes).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from naftiko_runtime.spec.exactjson import ExactDecodeError, check, loads

SEEDS = (
    b'{"a":[1,2.5e-3,-0,true,false,null,"x\\u00e9\\n"],"b":{}}',
    '{"name":"Café \u00e9t\u00e9","n":12345678901234567890123}'.encode(),
    b'[[[{"k":[]}]]]',
    b'"s"',
    b"-12.5E+7",
)
PIECES = [bytes([b]) for b in b'{}[]",:0123456789.eE+-tnrufals\\/ \t\n\x00\x1f'] + [
    b"\xc3\xa9",
    b"\xff",
    b"\xed\xa0\x80",
    b"\\ud800",
    b"1e400",
    b"\xef\xbb\xbf",
]


def _verdict(function, data: bytes) -> str | None:
    try:
        function(data)
    except ExactDecodeError as exc:
        return str(exc)
    return None


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A JSON document with a few bytes or pieces inserted, deleted or replaced: mostly near-JSON."""
    text = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(("insert", "delete", "replace")))
        if action != "insert" and at < len(text):
            del text[at]
        if action != "delete":
            text[at:at] = draw(st.sampled_from(PIECES))
    return bytes(text)


@settings(max_examples=400)
@given(mutated())
@example(b'"\\ud800"')
@example(b"[1e400]")
@example(b'"\xff"')
@example(b'{"a":"\xed\xa0\x80"}')
@example(b"\xef\xbb\xbf[1]")
@example(b"[NaN]")
@example(b"[1,]")
@example(b"[1e40012345678901234567890123]")
def test_check_accepts_and_refuses_what_loads_does_with_the_same_message(data):
    """One exception: a number whose exponent no ``Decimal`` holds is JSON, which the check passes
    on, while ``loads``, which must keep its value, refuses it (with a message, not a traceback).
    In a body that is not JSON further on, the check's fallback to ``loads`` meets that number
    first and refuses the body with the same message."""
    expected = _verdict(loads, data)
    verdict = _verdict(check, data)
    if expected is not None and "beyond any the gateway can hold" in expected:
        assert verdict in (None, expected)
    else:
        assert verdict == expected


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(), lambda inner: st.lists(inner, max_size=4)))
def test_any_document_json_writes_is_accepted(value):
    check(json.dumps(value, ensure_ascii=False).encode())


def test_nesting_past_the_parser_depth_is_refused_as_loads_refuses_it():
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(ExactDecodeError):
        check(deep)
    assert _verdict(check, deep) == _verdict(loads, deep)
