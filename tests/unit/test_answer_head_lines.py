"""D166: ``encode_head`` keeps the heads it wrote by what they were made from, and that changes
nothing: the same result whether a head was kept or not, a bad line refused whatever was kept
before, header lines given as lists (as ASGI allows) written and not kept, and no more than
``HEADS_KEPT`` heads kept."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from naftiko_runtime.serving import answer_cycle
from naftiko_runtime.serving.answer_cycle import HEADS_KEPT, encode_head

NAMES = st.sampled_from([b"Content-Type", b"x-trace", b"Date", b"bad name", b"Connection", b"content-length"])
VALUES = st.sampled_from([b"application/json", b"close", b"12", b"a\rb", b"x" * 2000, b"keep-alive, Close"])


def _encoded(status: int, headers: list[Any], keep_alive: bool, method: str) -> object:
    try:
        return encode_head(status, headers, keep_alive, method)
    except (RuntimeError, ValueError) as exc:  # a bad line; a length that is not a number
        return repr(exc)


@settings(max_examples=200)
@given(
    st.sampled_from([200, 204, 304, 404]),
    st.lists(st.tuples(NAMES, VALUES), max_size=5),
    st.booleans(),
    st.sampled_from(["GET", "HEAD"]),
)
def test_a_kept_head_is_the_head_written_anew(status, headers, keep_alive, method) -> None:
    answer_cycle._heads.clear()
    cold = _encoded(status, headers, keep_alive, method)
    assert _encoded(status, headers, keep_alive, method) == cold  # kept, if it was valid and short
    answer_cycle._heads.clear()
    as_lists = [list(line) for line in headers]
    assert _encoded(status, as_lists, keep_alive, method) == cold
    if headers:
        assert answer_cycle._heads == {}, "lines given as lists are written, not kept"


def test_a_bad_value_is_refused_after_a_good_one_was_kept() -> None:
    encode_head(200, [(b"x-note", b"fine")], True, "GET")
    with pytest.raises(RuntimeError, match="value"):
        encode_head(200, [(b"x-note", b"split\r\nx-evil: 1")], True, "GET")
    assert all(b"x-evil" not in head for head, *_ in answer_cycle._heads.values())


def test_no_more_heads_than_the_bound_are_kept() -> None:
    for number in range(HEADS_KEPT * 2 + 3):
        encode_head(200, [(b"x-n", str(number).encode())], True, "GET")
    assert 0 < len(answer_cycle._heads) <= HEADS_KEPT
