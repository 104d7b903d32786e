"""Orchestrated mode: step kinds besides the upstream call, and the outputs built from step results.

Every step of an orchestrated operation leaves its result in one context, keyed by the step's
name; later steps' ``with`` values and the operation's ``mappings`` read it with JSONPath
(``$.<step>.<path>``). Each path is compiled once at load time; at request time a step is a
dictionary read and a compiled extract.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..spec.diagnostics import Finding
from ..spec.expressions import Lookup, Reference, Template, render_scalar
from ..spec.model import OutputParameter, StepMapping
from .outputs import Extract, Mapper, MappingError, compile_outputs, compile_path

STEP_PATH = re.compile(r"^\$\.([A-Za-z0-9_-]+)(?:[.\[]|$)")
"""``$.<step>...``: the first segment names the step whose result the path reads."""

Results = Mapping[str, Any]
"""Each finished step's result by step name."""


def step_of(path: str) -> str | None:
    """The step a ``$.<step>.<path>`` expression reads, or ``None`` for anything else."""
    match = STEP_PATH.match(path.strip()) if isinstance(path, str) else None
    return match.group(1) if match else None


@dataclass(frozen=True)
class StepValue:
    """A ``with`` value that reads an earlier step's result (``$.first.flagship``)."""

    step: str
    path: str
    extract: Extract


@dataclass(frozen=True)
class LookupStep:
    """Entries of the ``index`` step's list whose ``match`` field equals the looked-up value(s),
    projected on ``fields`` (spec: Orchestrated, lookup).

    A single value gives the first matching entry, or ``None`` when none matches; a list of
    values gives one projected entry per value that matches, in the values' order (a value with
    no match is skipped, a key present twice in the index yields its first entry).
    """

    name: str
    index: str
    match: str
    value: Extract | None
    template: Template
    """The looked-up value when it is not a JSONPath: text, possibly with ``{{...}}``."""
    fields: tuple[str, ...]

    def run(self, results: Results, lookup: Lookup) -> Any:
        table = results.get(self.index)
        rows = table if isinstance(table, list) else [table] if isinstance(table, dict) else []
        by_key: dict[str, dict[str, Any]] = {}
        for row in rows:
            if isinstance(row, dict) and self.match in row:
                by_key.setdefault(_key(row[self.match]), row)
        wanted = self.value(results) if self.value is not None else self.template.render(lookup)[1]
        if isinstance(wanted, list):
            return [self._project(by_key[_key(v)]) for v in wanted if _key(v) in by_key]
        row = by_key.get(_key(wanted))
        return None if row is None else self._project(row)

    def _project(self, row: dict[str, Any]) -> dict[str, Any]:
        return {field: row.get(field) for field in self.fields}


@dataclass(frozen=True)
class StepShape:
    """A call step's result as its consumed operation's ``outputParameters`` describe it (D45), as
    the reference engine shapes it (``OperationStepExecutor.resolveStepOutput``): a list keeps
    each element and adds every named output, mapped against that element; any other result
    becomes the object of the named outputs; with only unnamed ones, the first one's value."""

    named: tuple[tuple[str, Mapper], ...]
    unnamed: Mapper | None

    def apply(self, result: Any, lookup: Lookup) -> Any:
        if isinstance(result, list):
            return [
                {**(element if isinstance(element, dict) else {}), **self._fields(element, lookup)}
                for element in result
            ]
        if self.named:
            return self._fields(result, lookup)
        return self.unnamed.apply(result, lookup) if self.unnamed is not None else result

    def _fields(self, node: Any, lookup: Lookup) -> dict[str, Any]:
        return {name: mapper.apply(node, lookup) for name, mapper in self.named}


def compile_step_shape(outputs: tuple[OutputParameter, ...]) -> tuple[StepShape | None, list[Finding]]:
    """``None`` when the consumed operation declares no outputs: the result is the decoded reply."""
    if not outputs:
        return None, []
    findings: list[Finding] = []
    named: list[tuple[str, Mapper]] = []
    unnamed: Mapper | None = None
    for output in outputs:
        mapper, output_findings = compile_outputs((replace(output, name=None),))
        findings += output_findings
        if output.name:
            named.append((output.name, mapper))
        elif unnamed is None:
            unnamed = mapper
    return StepShape(tuple(named), unnamed), findings


def _key(value: Any) -> str:
    """Keys compare as text, as in the reference engine: an id is ``"7"`` in one API and ``7``
    in the next."""
    return render_scalar(value)


def with_results(lookup: Lookup, results: Results) -> Lookup:
    """Templates of an orchestrated operation may also read ``{{<step>.<field>}}`` (as the
    reference engine allows); binds and inputs come first (D12)."""

    def find(reference: Reference) -> tuple[bool, Any]:
        found, value = lookup(reference)
        if found or reference.namespace is None or reference.namespace not in results:
            return found, value
        node = results[reference.namespace]
        if isinstance(node, dict) and reference.name in node:
            return True, node[reference.name]
        return False, None

    return find


def compile_step_value(path: str, known_steps: Mapping[str, int]) -> StepValue | None:
    """A ``$.<earlier step>...`` path as a step value; ``None`` when it names no earlier step."""
    step = step_of(path)
    if step is None or step not in known_steps:
        return None
    return StepValue(step, path, compile_path(path))


def compile_lookup(
    name: str, index: str, match: str, lookup_value: str, fields: tuple[str, ...], known_steps: Mapping[str, int]
) -> LookupStep:
    """Raises ``MappingError`` for a bad JSONPath or an ``index`` that names no earlier step."""
    if index not in known_steps:
        raise MappingError(f"lookup index '{index}' names no earlier step (known: {', '.join(known_steps) or 'none'})")
    if lookup_value.strip().startswith("$"):
        if step_of(lookup_value) not in known_steps:
            raise MappingError(f"lookupValue '{lookup_value}' reads no earlier step")
        return LookupStep(name, index, match, compile_path(lookup_value), Template.parse(""), fields)
    return LookupStep(name, index, match, None, Template.parse(lookup_value), fields)


def compile_results_mapper(
    outputs: tuple[OutputParameter, ...], mappings: tuple[StepMapping, ...], last_step: str | None
) -> tuple[Mapper, list[Finding]]:
    """The answer of an orchestrated operation, from the step results.

    ``mappings`` fill their targets (dot notation nests); a named output no mapping targets is
    mapped by its own ``mapping``/``value``/``const`` over the step results; with neither
    mappings nor outputs the last step's result is the answer.
    """
    findings: list[Finding] = []
    targets: list[tuple[tuple[str, ...], Extract]] = []
    for mapping in mappings:
        try:
            targets.append((tuple(mapping.target.split(".")), compile_path(mapping.value)))
        except MappingError as exc:
            findings.append(Finding.error(mapping.at + ("value",), str(exc)))
    if not targets:
        if not outputs and last_step is not None:
            step = last_step
            return Mapper(False, lambda results, lookup: results.get(step)), findings
        mapper, output_findings = compile_outputs(outputs)
        return mapper, findings + output_findings
    mapped = {parts[0] for parts, _ in targets}
    own = tuple(o for o in outputs if o.name and o.name not in mapped)
    own_mapper, output_findings = compile_outputs(own) if own else (None, [])
    findings += output_findings
    order = [o.name for o in outputs if o.name]

    def build(results: Any, lookup: Lookup) -> Any:
        answer: dict[str, Any] = dict(own_mapper.apply(results, lookup)) if own_mapper is not None else {}
        for parts, extract in targets:
            _place(answer, parts, extract(results))
        ordered = {name: answer.pop(name) for name in order if name in answer}
        ordered.update(answer)
        return ordered

    return Mapper(False, build), findings


def _place(answer: dict[str, Any], parts: tuple[str, ...], value: Any) -> None:
    node = answer
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value
