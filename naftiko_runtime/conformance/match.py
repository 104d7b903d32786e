"""Comparing an expected value (from a case) with an actual one, with precise differences.

Expected values are plain data, plus *matchers*: a mapping with one key starting with ``$``:

- ``{$absent: true}``: the key is not there (in a mapping), the header is not sent
- ``{$any: true}``: present, any value
- ``{$regex: "..."}``: a string that the regular expression finds (``re.search``)
- ``{$contains: X}``: a string containing X, or a list with an element matching X (subset)
- ``{$type: string|number|integer|boolean|null|object|array}``
- ``{$len: N}``: a string, list or mapping of N elements
- ``{$exact: X}``: compare X exactly even inside a subset comparison
- ``{$subset: X}``: compare X as a subset even inside an exact comparison
- ``{$not: X}``: anything that does not match X

``subset`` mode: mappings may have more keys than expected; lists must have the same length and
match element by element. ``exact`` mode: mappings have exactly the expected keys.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from ..spec.jsontypes import json_type

ABSENT = object()
MATCHERS = {"$absent", "$any", "$regex", "$contains", "$type", "$len", "$exact", "$subset", "$not"}


def is_matcher(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in MATCHERS


def show(value: Any) -> str:
    if value is ABSENT:
        return "<absent>"
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 300 else text[:297] + "..."


def _scalar_equal(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return expected == actual
    return type(expected) is type(actual) and expected == actual


def compare(expected: Any, actual: Any, where: str = "$", subset: bool = False) -> list[str]:
    """Every difference between ``expected`` and ``actual``, as ``where: expected X, got Y`` lines."""
    if is_matcher(expected):
        key, arg = next(iter(expected.items()))
        if key == "$absent":
            return (
                []
                if (actual is ABSENT) == bool(arg)
                else [f"{where}: expected {'absent' if arg else 'present'}, got {show(actual)}"]
            )
        if key == "$not":
            return (
                [f"{where}: expected not {show(arg)}, got {show(actual)}"]
                if not compare(arg, actual, where, subset)
                else []
            )
        if actual is ABSENT:
            return [f"{where}: missing (expected {show(expected)})"]
        if key == "$any":
            return []
        if key == "$regex":
            ok = isinstance(actual, str) and re.search(arg, actual) is not None
            return [] if ok else [f"{where}: expected to match /{arg}/, got {show(actual)}"]
        if key == "$contains":
            if isinstance(actual, str):
                return (
                    []
                    if isinstance(arg, str) and arg in actual
                    else [f"{where}: expected to contain {show(arg)}, got {show(actual)}"]
                )
            if isinstance(actual, list):
                if any(not compare(arg, item, where, True) for item in actual):
                    return []
                return [f"{where}: no element matches {show(arg)} in {show(actual)}"]
            return [f"{where}: expected a string or list containing {show(arg)}, got {show(actual)}"]
        if key == "$type":
            kinds = arg if isinstance(arg, list) else [arg]
            kind = json_type(actual)
            ok = kind in kinds or (kind == "integer" and "number" in kinds)
            return [] if ok else [f"{where}: expected type {arg}, got {kind} {show(actual)}"]
        if key == "$len":
            ok = hasattr(actual, "__len__") and len(actual) == arg
            return [] if ok else [f"{where}: expected length {arg}, got {show(actual)}"]
        if key == "$exact":
            return compare(arg, actual, where, False)
        if key == "$subset":
            return compare(arg, actual, where, True)
    if actual is ABSENT:
        return [f"{where}: missing (expected {show(expected)})"]
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object {show(expected)}, got {show(actual)}"]
        problems = []
        for key, value in expected.items():
            problems += compare(value, actual.get(key, ABSENT), f"{where}.{key}", subset)
        if not subset:
            extra = [k for k in actual if k not in expected]
            if extra:
                problems.append(f"{where}: unexpected keys {', '.join(map(str, extra))} (got {show(actual)})")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{where}: expected a list {show(expected)}, got {show(actual)}"]
        if len(expected) != len(actual):
            return [f"{where}: expected {len(expected)} elements {show(expected)}, got {len(actual)} {show(actual)}"]
        problems = []
        for index, (e, a) in enumerate(zip(expected, actual, strict=False)):
            problems += compare(e, a, f"{where}[{index}]", subset)
        return problems
    if not _scalar_equal(expected, actual):
        return [f"{where}: expected {show(expected)}, got {show(actual)}"]
    return []


def jsonpath_values(path: str, document: Any) -> Any:
    """A single match as itself, several as a list, none as ``ABSENT``."""
    from jsonpath_ng.ext.parser import parse

    matches = [m.value for m in parse(path).find(document)]
    if not matches:
        return ABSENT
    return matches[0] if len(matches) == 1 else matches


def check_jsonpaths(assertions: dict[str, Any], document: Any, label: str) -> list[str]:
    problems = []
    for path, expected in assertions.items():
        try:
            actual = jsonpath_values(path, document)
        except Exception as exc:  # a bad JSONPath in a case is the case's error
            problems.append(f"{label} {path}: bad JSONPath ({exc})")
            continue
        problems += compare(expected, actual, f"{label} {path}", subset=True)
    return problems


def text_value(value: Any) -> str:
    """A YAML scalar as it travels in a query string, form or header: ``true`` -> ``"true"``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def pairs_to_mapping(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``[(a, 1), (b, 2), (b, 3)]`` -> ``{a: "1", b: ["2", "3"]}`` (order of first appearance)."""
    mapping: dict[str, Any] = {}
    for name, value in pairs:
        if name in mapping:
            mapping[name] = (mapping[name] if isinstance(mapping[name], list) else [mapping[name]]) + [value]
        else:
            mapping[name] = value
    return mapping


def normalize_pairs_expectation(expected: Any) -> Any:
    """Scalars of an expected query/form mapping as text (``limit: 5`` means ``"5"``)."""
    if is_matcher(expected):
        return expected
    if isinstance(expected, dict):
        return {str(k): normalize_pairs_expectation(v) for k, v in expected.items()}
    if isinstance(expected, list):
        return [normalize_pairs_expectation(v) for v in expected]
    return text_value(expected)


def compare_headers(expected: dict[str, Any], actual: dict[str, str], label: str) -> list[str]:
    """Headers are always a subset check, names case-insensitive; ``{$absent: true}`` for 'not sent'."""
    lowered = {k.lower(): v for k, v in actual.items()}
    problems = []
    for name, value in expected.items():
        got = lowered.get(name.lower(), ABSENT)
        want = value if is_matcher(value) else text_value(value)
        problems += compare(want, got, f"{label} header {name}", subset=True)
    return problems


BODY_KEYS = ("json", "json_subset", "jsonpath", "text", "form", "multipart", "empty", "base64")


def base64_body(value: Any) -> bytes:
    """A ``base64:`` body of a case: binary content (images, Avro, Protobuf) written as text."""
    return base64.b64decode(str(value).replace("\n", "").replace(" ", ""), validate=True)


def parse_multipart(body: bytes, content_type: str) -> dict[str, Any] | None:
    """``{name: value}`` or ``{name: {value, filename, content_type}}`` when a part has a file name."""
    match = re.search(r'boundary="?([^";]+)"?', content_type or "")
    if not match:
        return None
    boundary = b"--" + match.group(1).encode()
    parts: dict[str, Any] = {}
    for chunk in body.split(boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk.removeprefix(b"\r\n")
        head, _, content = chunk.partition(b"\r\n\r\n")
        content = content.removesuffix(b"\r\n")
        headers = {}
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name_match = re.search(r'\bname="([^"]*)"', disposition)
        filename = re.search(r'\bfilename="([^"]*)"', disposition)
        text = content.decode("utf-8", "replace")
        key = name_match.group(1) if name_match else ""
        if filename or "content-type" in headers:
            parts[key] = {
                "value": text,
                "filename": filename.group(1) if filename else None,
                "content_type": headers.get("content-type"),
            }
        else:
            parts[key] = text
    return parts


def check_body(spec: dict[str, Any], body: bytes, content_type: str, label: str) -> list[str]:
    """The body expectations of ``spec`` (any of ``BODY_KEYS``) against raw bytes."""
    from urllib.parse import parse_qsl

    problems: list[str] = []
    text = body.decode("utf-8", "replace")
    if spec.get("empty") is True and body:
        problems.append(f"{label} body: expected empty, got {show(text)}")
    if spec.get("empty") is False and not body:
        problems.append(f"{label} body: expected a body, got none")
    if "base64" in spec:
        want = spec["base64"]
        if is_matcher(want):
            problems += compare(want, base64.b64encode(body).decode(), f"{label} body base64", subset=True)
        elif body != base64_body(want):
            problems.append(f"{label} body: expected {len(base64_body(want))} exact bytes, got {len(body)} others")
    if "text" in spec:
        want = spec["text"]
        problems += compare(want if is_matcher(want) else str(want), text, f"{label} body text", subset=True)
    needs_json = any(k in spec for k in ("json", "json_subset", "jsonpath"))
    if needs_json:
        try:
            document = json.loads(text) if text.strip() else ABSENT
        except ValueError:
            problems.append(f"{label} body: expected JSON, got {show(text)}")
            document = None
        else:
            if document is ABSENT:
                problems.append(f"{label} body: expected JSON, got an empty body")
        if document is not None and document is not ABSENT:
            if "json" in spec:
                problems += compare(spec["json"], document, f"{label} body $", subset=False)
            if "json_subset" in spec:
                problems += compare(spec["json_subset"], document, f"{label} body $", subset=True)
            if "jsonpath" in spec:
                problems += check_jsonpaths(spec["jsonpath"], document, f"{label} body")
    if "form" in spec:
        if "x-www-form-urlencoded" not in (content_type or ""):
            problems.append(f"{label}: expected a form-encoded body, got Content-Type {show(content_type or None)}")
        got = pairs_to_mapping(parse_qsl(text, keep_blank_values=True))
        problems += compare(normalize_pairs_expectation(spec["form"]), got, f"{label} form", subset=False)
    if "multipart" in spec:
        parts = parse_multipart(body, content_type)
        if parts is None:
            problems.append(f"{label}: expected a multipart body, got Content-Type {show(content_type or None)}")
        else:
            problems += compare(spec["multipart"], parts, f"{label} multipart", subset=True)
    return problems
