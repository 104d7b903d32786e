"""Orchestrated mode: what every step is at request time, and the outputs built from step results.

Every step of an orchestrated operation leaves its result in one context, keyed by the step's
name; later steps' ``with`` values and the operation's ``mappings`` read it with JSONPath
(``$.<step>.<path>``). Each path is compiled once at load time; at request time a step is a
dictionary read and a compiled extract. The kinds of step (``call``, ``lookup``, ``script`` and
those plugins add) are in ``stepkinds``; the executor only knows the ``Step`` interface here.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any, Protocol, runtime_checkable

from ..records import dataclass
from ..spec.diagnostics import Finding
from ..spec.expressions import Lookup, Reference, WithSource, resolve
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
class StepRun:
    """What a running step may read, and the one thing it may ask of the executor."""

    inputs: Mapping[str, Any]
    results: Results
    """Every finished step's result by name (a step's own result is placed by the executor)."""
    lookup: Lookup
    """Template lookup: bind variables, inputs, then ``{{<step>.<field>}}`` (D12)."""
    send: Callable[[Any, StepRun], Awaitable[Any]]
    """Sends a call step's request (a ``plans.CallStep``, typed loosely: plans imports this
    module), observed and redacted like every upstream call, and gives its decoded answer; an
    upstream error ends the chain (``StepFailed``, D80)."""
    clients: Any = None
    """The executor's upstream clients (``core.upstream.UpstreamClients``, typed loosely for the
    same reason), for a kind that keeps connections of its own: an upstream MCP server's (D113)."""


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


class Step(Protocol):
    """One step of a plan, compiled at load by its kind (``stepkinds``), run per request."""

    @property
    def name(self) -> str: ...

    @property
    def concurrent(self) -> bool:
        """Whether it may run together with consecutive steps that read none of its result (D80)."""

    async def run(self, run: StepRun) -> Any:
        """The step's result, which later steps and the mappings read by the step's name."""


@runtime_checkable
class RoutedElsewhere(Protocol):
    """A step that calls something other than a consumed operation (``plans.calls`` lists those)."""

    @property
    def route_call(self) -> str:
        """What ``naftiko routes`` lists as the step's call."""


def read_source(source: WithSource | StepValue, run: StepRun) -> tuple[bool, Any]:
    """What a ``with``-style value gives in ``run``, and whether it is there at all (D17)."""
    if isinstance(source, StepValue):
        return True, source.extract(run.results)
    return resolve(source, run.lookup, run.inputs)


@runtime_checkable
class Compound(Protocol):
    """A step that runs other steps (a conditional, a for-each, a parallel join: issue 21): its
    inner steps' calls are the plan's calls too (clients opened, routes listed)."""

    @property
    def inner(self) -> tuple[Step, ...]: ...


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
