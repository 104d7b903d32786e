"""D166: ``encode_head`` keeps the header lines it found valid, and that changes nothing: the same
bytes whether a line was kept or not, a bad line refused even after its name passed with another
value, and no more than ``CHECKED_KEPT`` lines kept."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from naftiko_runtime.serving import answer_cycle
from naftiko_runtime.serving.answer_cycle import CHECKED_KEPT, encode_head

NAMES = st.sampled_from([b"Content-Type", b"x-trace", b"Date", b"bad name", b"Connection", b"content-length"])
VALUES = st.sampled_from([b"application/json", b"close", b"12", b"a\rb", b"x" * 100, b"keep-alive, Close"])


def _encoded(headers: list[tuple[bytes, bytes]]) -> object:
    try:
        return encode_head(200, headers, True, "GET")
    except (RuntimeError, ValueError) as exc:  # a bad line; a length that is not a number
        return repr(exc)


@settings(max_examples=200)
@given(st.lists(st.tuples(NAMES, VALUES), max_size=6))
def test_kept_lines_give_the_same_head_as_lines_checked_anew(headers: list[tuple[bytes, bytes]]) -> None:
    answer_cycle._checked.clear()
    cold = _encoded(headers)
    warm = _encoded(headers)
    assert cold == warm
    answer_cycle._checked.clear()
    assert _encoded(headers) == cold


def test_a_bad_value_is_refused_after_its_name_passed_with_a_good_one() -> None:
    encode_head(200, [(b"x-note", b"fine")], True, "GET")
    with pytest.raises(RuntimeError, match="value"):
        encode_head(200, [(b"x-note", b"split\r\nx-evil: 1")], True, "GET")


def test_no_more_lines_than_the_bound_are_kept() -> None:
    for number in range(CHECKED_KEPT * 2 + 3):
        encode_head(200, [(b"x-n", str(number).encode())], True, "GET")
    assert 0 < len(answer_cycle._checked) <= CHECKED_KEPT
