"""Issue 22: which numbers ``spec.exactjson.loads`` may leave to orjson, tried at the boundary.

The check that sends a document to the exact parser used to fire on any ``0e-`` in it: every
hexadecimal UUID with a digit before an ``e`` at the end of a group (``1d9e-4b3a``), so the benchmark
upstream's list decoded three times slower than orjson. It now fires on a negative exponent of three
digits or more; these properties hold the reasoning that two digits cannot lose a number.
"""

from __future__ import annotations

from decimal import Decimal

import orjson
from hypothesis import given
from hypothesis import strategies as st

from naftiko_runtime.spec.exactjson import LONG_NUMBER, NEGATIVE_EXPONENT, NUMBER_SHAPES, loads

MANTISSAS = st.builds(
    lambda sign, whole, fraction: f"{sign}{whole}{'.' + fraction if fraction else ''}",
    st.sampled_from(["", "-"]),
    st.from_regex(r"[1-9][0-9]{0,7}|0", fullmatch=True),
    st.from_regex(r"[0-9]{0,6}", fullmatch=True),
)
"""At most 15 characters of digits and dot: a longer run takes the exact path (``LONG_NUMBER``)."""


def _value(result: object) -> Decimal:
    return Decimal(repr(result)) if isinstance(result, float) else Decimal(result)  # type: ignore[arg-type]


@given(MANTISSAS, st.integers(min_value=0, max_value=400), st.sampled_from(["e", "E"]))
def test_a_negative_exponent_keeps_its_value_on_either_path(mantissa, exponent, e):
    text = f"{mantissa}{e}-{exponent}"
    assert _value(loads(text.encode())) == Decimal(text)
    assert _value(loads(f'{{"id":"2f7c1d9e-4b3a","n":[{text}]}}'.encode())["n"][0]) == Decimal(text)


@given(st.uuids())
def test_a_list_of_uuids_is_left_to_orjson_unless_a_group_after_an_e_starts_with_three_digits(uuid):
    text = str(uuid)
    document = orjson.dumps({"data": [{"id": text, "count": 12, "ratio": 0.25}]})
    shapes = document.translate(NUMBER_SHAPES)
    three_digits_after_e = any(
        text[i] in "eE" and text[i + 1] == "-" and text[i + 2 : i + 5].isdigit() for i in range(len(text) - 4)
    )
    assert (NEGATIVE_EXPONENT in shapes or LONG_NUMBER in shapes) == three_digits_after_e
    assert loads(document) == orjson.loads(document)


def test_the_underflowing_and_subnormal_numbers_take_the_exact_path():
    assert loads(b"[1e-400]") == [Decimal("1E-400")]
    assert loads(b'{"id":"d9e-4b","v":-1.5E-330}') == {"id": "d9e-4b", "v": Decimal("-1.5E-330")}
    assert loads(b"4.9e-324") == Decimal("4.9E-324")
    assert loads(b"1e-99") == 1e-99
