"""The guard of a conditional step (issue 21): ``<value>`` or ``<value> <op> <literal>``.

``<value>`` is what a ``with`` entry may say (``$.<step>.<path>``, ``<namespace>.<input>``); the
literal is JSON (``3``, ``true``, ``null``, ``"x"``) or a single-quoted string. Without an
operator the guard holds when the value is truthy (present, not ``null``/``false``/``0``/empty).
A comparison the types do not allow (``"a" < 3``) is false, never an error: a guard decides, it
does not fail the request.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable
from typing import Any

from ...records import dataclass
from ...spec.expressions import WithSource
from ..steps import StepRun, StepValue, read_source

GUARD = re.compile(r"^\s*(?P<value>\S+)\s*(?:(?P<op>==|!=|<=|>=|<|>)\s*(?P<literal>.+?))?\s*$", re.DOTALL)
ORDERS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class GuardError(ValueError):
    """A guard that cannot be read: the message says why, the caller says where."""


@dataclass(frozen=True)
class Guard:
    value: WithSource | StepValue
    op: str | None
    literal: Any

    def holds(self, run: StepRun) -> bool:
        present, value = read_source(self.value, run)
        if self.op is None:
            return present and bool(value)
        if self.op in ("==", "!="):
            return _equal(value if present else None, self.literal) == (self.op == "==")
        order = ORDERS[self.op]
        if _number(value) and _number(self.literal) or isinstance(value, str) and isinstance(self.literal, str):
            return order(value, self.literal)
        return False


def parse_guard(text: str, source: Callable[[str], WithSource | StepValue | None]) -> Guard | None:
    """``source`` reads the value as a ``with`` entry would be read, or gives ``None`` after
    reporting why it cannot (``compound.readable``)."""
    match = GUARD.match(text)
    if match is None:
        raise GuardError(f"guard '{text}' is not '<value>' or '<value> <op> <literal>' (op: == != < <= > >=)")
    literal_text = match.group("literal")
    literal = None if literal_text is None else _literal(literal_text)
    value = source(match.group("value"))
    return None if value is None else Guard(value, match.group("op"), literal)


def _literal(text: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise GuardError(
            f"'{text}' is not a literal: write a number, true, false, null, or a quoted string ('{text}')"
        ) from None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(left: Any, right: Any) -> bool:
    """Numbers compare by value (``1 == 1.0``), a boolean never equals a number (``true != 1``)."""
    if _number(left) and _number(right):
        return bool(left == right)
    return type(left) is type(right) and bool(left == right) or (left is None and right is None)
