"""Checking a caller's inputs against a plan's ``InputSpec``s (CONTRACT D25-D29).

REST inputs arrive as strings (path, query, header, cookie) or JSON (body) and are converted to
their declared types here (D27). MCP arguments arrive as JSON and are checked against the tool's
input schema, built from the same specs (D28). Either way every problem is listed at once.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..records import dataclass
from ..spec.exactjson import number_from_text
from ..spec.jsontypes import json_type
from .problems import InputProblem

TRUE, FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}
WHOLE_BODY = "body"
"""D16: an ``in: body`` parameter (or input) of this name is the whole JSON request body."""
JSON_INPUT_TYPES = frozenset({"string", "integer", "number", "boolean", "array", "object"})
MAX_INPUT_DEPTH = 64
"""JSON inputs nested deeper are refused (D27/D28): the encoders and walkers after this point
(orjson stops at 254 levels, deepObject query rendering recurses) must never see them."""


@dataclass(frozen=True)
class InputValue:
    """D25a: an input the capability fills instead of the caller, from its ``value``."""

    source: str
    """The ``value`` as written."""
    constant: Any = None
    extract: Callable[[Any], Any] | None = None
    """A compiled JSONPath over the JSON request body (REST) or the arguments (MCP)."""

    @property
    def reads_request(self) -> bool:
        return self.extract is not None

    def read(self, document: Any) -> Any:
        return self.extract(document) if self.extract is not None else self.constant


@dataclass(frozen=True)
class InputSpec:
    """One input a caller may (or must) give, whatever adapter carries it (D25-D29)."""

    name: str
    location: str
    """The spec's ``in``: ``path``, ``query``, ``header``, ``cookie`` or ``body``."""
    type: str | None
    required: bool
    description: str | None
    pattern: re.Pattern[str] | None
    fills: str | None = None
    """The consumed parameter this input fills (``body`` means the whole request body, D16)."""
    credential: bool = False
    """A header the gateway's own authentication fills: never required, never shown to agents (D29)."""
    value: InputValue | None = None
    """Filled by the capability (D25a), never asked of the caller."""


class ConversionError(ValueError):
    pass


def convert_text(text: str, kind: str | None) -> Any:
    """A string from a URL or header as the declared scalar type; numbers exact (issue 20)."""
    if kind in ("integer", "number"):
        expected = "an integer" if kind == "integer" else "a number"
        try:
            number = number_from_text(text)
        except ValueError:
            raise ConversionError(f"expected {expected} of at most {sys.get_int_max_str_digits()} digits") from None
        if number is None or (kind == "integer" and not isinstance(number, int)):
            raise ConversionError(f"expected {expected}, got {text!r}")
        return number
    if kind == "boolean":
        lowered = text.strip().lower()
        if lowered in TRUE:
            return True
        if lowered in FALSE:
            return False
        raise ConversionError(f"expected true or false, got {text!r}")
    return text


def json_type_problem(value: Any, kind: str | None) -> str | None:
    """For JSON values (REST bodies, MCP arguments): why ``value`` is not of ``kind``."""
    actual = json_type(value)
    if kind not in JSON_INPUT_TYPES or actual == kind or (kind == "number" and actual == "integer"):
        return None
    return f"expected {kind}, got {actual}"


def too_deep(value: Any, limit: int = MAX_INPUT_DEPTH) -> bool:
    """Whether a decoded JSON value nests more than ``limit`` arrays/objects (iterative walk)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def check_value(spec: InputSpec, value: Any, from_text: bool) -> tuple[Any, str | None]:
    """Convert and check one present value; returns ``(value, problem)``."""
    if isinstance(value, (dict, list)) and too_deep(value):
        return value, f"nested deeper than {MAX_INPUT_DEPTH} levels"
    if from_text and spec.type == "object" and not isinstance(value, dict):
        return value, f"expected an object, sent as {spec.name}[key]=value"
    try:
        if from_text and isinstance(value, str) and spec.type not in ("object", "array"):
            value = convert_text(value, spec.type)
        elif from_text and isinstance(value, list) and spec.type != "array":
            value = convert_text(value[-1], spec.type)
        elif from_text and spec.type == "array" and not isinstance(value, list):
            value = [value]
        elif not from_text:
            problem = json_type_problem(value, spec.type)
            if problem:
                return value, problem
    except ConversionError as exc:
        return value, str(exc)
    if spec.pattern is not None and isinstance(value, str) and not spec.pattern.search(value):
        return value, f"does not match pattern {spec.pattern.pattern!r}"
    return value, None


def check_inputs(
    specs: Iterable[InputSpec], raw: Mapping[str, tuple[Any, bool]], document: Any = None
) -> tuple[dict[str, Any], list[InputProblem]]:
    """``raw`` maps input names to ``(value, came_as_text)``; returns the inputs and the problems.
    An input with a ``value`` (D25a) reads it, from ``document`` (the JSON request body or the
    arguments) for an expression; whatever the caller sent under its name is ignored."""
    inputs: dict[str, Any] = {}
    problems: list[InputProblem] = []
    for spec in specs:
        if spec.value is not None:
            found = spec.value.read(document)
            if found is not None:
                inputs[spec.name] = found
            continue
        if spec.name not in raw:
            if spec.required:
                problems.append(InputProblem(spec.name, spec.location, "required"))
            continue
        value, from_text = raw[spec.name]
        if value is None:
            if spec.required:
                problems.append(InputProblem(spec.name, spec.location, "must not be null"))
            continue
        value, problem = check_value(spec, value, from_text)
        if problem:
            problems.append(InputProblem(spec.name, spec.location, problem))
        else:
            inputs[spec.name] = value
    return inputs, problems
