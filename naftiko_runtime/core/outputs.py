"""Output mapping: from the decoded upstream response to what the caller receives (D40-D46).

Each exposed operation's ``outputParameters`` compile once into a ``Mapper``. JSONPath
expressions are compiled at load time; the common simple ones (``$.a.b``, ``$.a[0]``) take a
fast path of dictionary lookups, and jsonpath-ng handles the full grammar.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from ..records import dataclass
from ..spec.diagnostics import Finding
from ..spec.exactjson import number_from_text
from ..spec.expressions import Lookup, Template
from ..spec.model import OutputParameter

ROOT_PATHS = ("$", "$.")
SIMPLE_PATH = re.compile(r"^\$((?:\.[A-Za-z_][A-Za-z0-9_-]*|\[\d+\]|\['[^']*'\])+)$")
SIMPLE_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\['([^']*)'\]")
MULTI_MATCH = re.compile(r"\[\*\]|\.\.|\[\?|\.\*|\[[^\]]*[:,][^\]]*\]")

Extract = Callable[[Any], Any]


class MappingError(ValueError):
    """A JSONPath that cannot be compiled (reported at load time, with its position)."""


def compile_path(expression: str) -> Extract:
    """D41: one match as itself, a multi-match path as a list, no match as ``None``."""
    expression = expression.strip()
    if expression in ROOT_PATHS:
        return lambda node: node
    key = single_key(expression)
    if key is not None:
        return lambda node: node.get(key) if isinstance(node, dict) else None
    simple = SIMPLE_PATH.match(expression)
    if simple:
        steps = _steps(simple.group(1))
        return lambda node: _walk(node, steps)
    # jsonpath-ng (~27 M instructions to import) only where a file maps a path of its richer
    # syntax: the paths above are most files' every path (D170).
    from jsonpath_ng.ext.parser import parse as parse_jsonpath

    try:
        compiled = parse_jsonpath(expression)
    except Exception as exc:  # its lexer and parser errors, and the bare Exceptions it raises too
        raise MappingError(f"invalid JSONPath '{expression}': {exc}") from exc
    if MULTI_MATCH.search(expression):
        return lambda node: [match.value for match in compiled.find(node)]

    def single(node: Any) -> Any:
        matches = compiled.find(node)
        return matches[0].value if matches else None

    return single


def _steps(path: str) -> tuple[str | int, ...]:
    return tuple(
        int(m.group(2)) if m.group(2) is not None else (m.group(1) or m.group(3)) for m in SIMPLE_STEP.finditer(path)
    )


def single_key(expression: str) -> str | None:
    """The one object key a path such as ``$.name`` or ``$['a b']`` reads, else ``None``: mapped
    per item of every answer, such a path is one ``dict.get`` instead of a walk."""
    simple = SIMPLE_PATH.match(expression.strip())
    steps = _steps(simple.group(1)) if simple else ()
    return steps[0] if len(steps) == 1 and isinstance(steps[0], str) else None


def _walk(node: Any, steps: tuple[str | int, ...]) -> Any:
    for step in steps:
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return None
        elif not isinstance(node, dict) or step not in node:
            return None
        node = node[step]
    return node


def convert(value: Any, kind: str) -> Any:
    """D43: a static or templated value converted to its declared type ("42" -> 42)."""
    if not isinstance(value, str):
        return value
    try:
        if kind == "number":
            number = number_from_text(value)  # exact, whatever its size (issue 20)
            return value if number is None else number
        if kind == "integer":
            return int(value)
        if kind == "boolean":
            return {"true": True, "false": False}.get(value.strip().lower(), value)
    except ValueError:
        return value
    return value


@dataclass(frozen=True)
class Mapper:
    """A compiled output: ``passthrough`` means the response is returned as it came (D40, D46)."""

    passthrough: bool
    build: Callable[[Any, Lookup], Any]

    def apply(self, document: Any, lookup: Lookup) -> Any:
        return document if self.passthrough else self.build(document, lookup)


PASSTHROUGH = Mapper(True, lambda document, lookup: document)


def compile_outputs(outputs: tuple[OutputParameter, ...]) -> tuple[Mapper, list[Finding]]:
    """D44: several named outputs -> an object by name; one unnamed output -> its value."""
    findings: list[Finding] = []
    if not outputs:
        return PASSTHROUGH, findings
    if len(outputs) == 1 and not outputs[0].name and _is_passthrough(outputs[0]):
        return PASSTHROUGH, findings
    compiled = []
    for output in outputs:
        try:
            compiled.append((output.name, _compile_node(output)))
        except MappingError as exc:
            findings.append(Finding.error(output.at, str(exc)))
    if findings:
        return PASSTHROUGH, findings
    if len(compiled) == 1 and not compiled[0][0]:
        return Mapper(False, compiled[0][1]), findings
    named = tuple((name or f"output{i}", build) for i, (name, build) in enumerate(compiled))
    return Mapper(False, lambda doc, lookup: {name: build(doc, lookup) for name, build in named}), findings


def compile_mock(outputs: tuple[OutputParameter, ...]) -> Mapper:
    """Mock mode (D81), as the reference engine builds it (``Resolver.buildMockValue``): each
    output's static ``value`` (D43) or ``const``; an object of its properties' values, an array of
    its items' value; what has no value is left out, and an object left empty with it. A single
    unnamed output is its value (D44)."""
    if not outputs:
        return PASSTHROUGH
    if len(outputs) == 1 and not outputs[0].name:
        single = _mock_node(outputs[0])
        return Mapper(False, lambda doc, lookup: single(lookup))
    named = tuple((output.name or f"output{i}", _mock_node(output)) for i, output in enumerate(outputs))
    return Mapper(False, lambda doc, lookup: _present((name, build(lookup)) for name, build in named))


def _mock_node(output: OutputParameter) -> Callable[[Lookup], Any]:
    if output.const is not None:
        constant = output.const
        return lambda lookup: constant
    if output.value is not None and not output.value.strip().startswith("$"):
        template, kind = Template.parse(output.value), output.type
        return lambda lookup: convert(template.render(lookup)[1], kind)
    if output.type == "object" and output.properties:
        fields = tuple((name, _mock_node(child)) for name, child in output.properties.items())
        return lambda lookup: _present((name, build(lookup)) for name, build in fields) or None
    if output.type == "array":
        item = _mock_node(output.items) if output.items is not None else (lambda lookup: None)
        return lambda lookup: [value] if (value := item(lookup)) is not None else []
    return lambda lookup: None


def _present(fields: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    return {name: value for name, value in fields if value is not None}


def _is_passthrough(output: OutputParameter) -> bool:
    """D40: ``{type: T, mapping: "$."}`` with no ``properties`` (or ``properties: {}``, the form
    the beta4 schema requires of an object) and no ``items``."""
    path = (output.mapping or output.value or "").strip()
    return path in ROOT_PATHS and not output.properties and output.items is None and output.const is None


def _compile_node(output: OutputParameter) -> Callable[[Any, Lookup], Any]:
    """One output parameter; ``properties`` and ``items`` are mapped relative to its node (D42)."""
    if output.const is not None:
        constant = output.const
        return lambda doc, lookup: constant
    if output.mapping is None and output.value is not None and not output.value.strip().startswith("$"):
        template, kind = Template.parse(output.value), output.type
        return lambda doc, lookup: convert(template.render(lookup)[1], kind)
    expression = output.mapping or output.value
    select = compile_path(expression) if expression else (lambda node: node)
    if output.type == "object" and output.properties:
        keys = tuple((name, _leaf_key(child)) for name, child in output.properties.items())
        if all(key is not None for _, key in keys):
            return _key_object(select, keys)
        fields = tuple((name, _compile_node(child)) for name, child in output.properties.items())

        def build_object(doc: Any, lookup: Lookup) -> Any:
            node = select(doc)
            if node is None:
                return None
            return {name: build(node, lookup) for name, build in fields}

        return build_object
    if output.type == "array" and output.items is not None:
        item = _compile_node(output.items)

        def build_array(doc: Any, lookup: Lookup) -> Any:
            node = select(doc)
            if node is None:
                return None
            return [item(element, lookup) for element in (node if isinstance(node, list) else [node])]

        return build_array
    return lambda doc, lookup: select(doc)


def _leaf_key(output: OutputParameter) -> str | None:
    """The key a property reads when it is a plain ``mapping: $.key`` (no value, const or children)."""
    if output.const is not None or output.properties or output.items is not None or not output.mapping:
        return None
    return single_key(output.mapping)


def _key_object(select: Extract, keys: tuple[tuple[str, str | None], ...]) -> Callable[[Any, Lookup], Any]:
    """An object whose every property is one key of the selected node (the usual projection): one
    ``dict.get`` per property, no per-property closures; a node that is not an object maps every
    property to ``None``, as the general walk does."""
    names = tuple(name for name, _ in keys)

    def build_key_object(doc: Any, lookup: Lookup) -> Any:
        node = select(doc)
        if node is None:
            return None
        if not isinstance(node, dict):
            return dict.fromkeys(names)
        get = node.get
        return {name: get(key) for name, key in keys}

    return build_key_object
