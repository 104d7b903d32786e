"""Compiling an exposed operation or tool into an ``OperationPlan``, once, at load time.

The exposed side is compiled here: the inputs (declared, and inferred from ``with``, D25), the
steps in declared order with the waves they run in (D80), and the output mapping. Each step's
``UpstreamCall`` comes from ``consumed`` (compiled once per consumed operation); here each ``with``
value is bound to the consumed parameter it fills (D20, D21). At request time the executor only
reads the plan; nothing is parsed or looked up by name there.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ..settings import ClientCredentialsPolicy
from ..spec.binds import BindValues, template_uses
from ..spec.builder import NOT_YET
from ..spec.diagnostics import DocPath, Finding
from ..spec.expressions import (
    InputReference,
    Literal,
    Reference,
    Template,
    WithSource,
    looks_like_reference,
    normalize_name,
    unresolved_expression,
    with_source,
)
from ..spec.model import Capability, ConsumedOperation, Consumes, Exposed, Parameter
from ..spec.pagination import PAGINATION
from .consumed import ConsumedCalls, path_parts
from .credentials import NONE, Credentials, render_from_binds
from .inputs import InputSpec, InputValue
from .outputs import PASSTHROUGH, Mapper, MappingError, compile_mock, compile_outputs, compile_path
from .pagination import compile_paging
from .plans import DEFAULT_SCRIPT_LIMITS, FORWARD_OPERATION, Argument, CallStep, OperationPlan, Paging, UpstreamCall
from .scripts import ScriptLimits
from .stepkinds import CONSUMED_CALL_KINDS, STEP_KINDS, ConsumedCallKind
from .steps import Step, StepValue, compile_results_mapper, compile_step_shape, compile_step_value, step_of


def _find_parameter(operation: ConsumedOperation, key: str) -> Parameter | None:
    for parameter in operation.parameters:
        if parameter.name == key:
            return parameter
    wanted = normalize_name(key).lower()
    for parameter in operation.parameters:
        if normalize_name(parameter.name).lower() == wanted:
            return parameter
    return None


def _compile_pattern(text: str | None) -> re.Pattern[str] | None:
    return re.compile(text) if text else None


class PlanCompiler:
    """Compiles every exposed operation of one capability; problems become findings."""

    def __init__(
        self,
        capability: Capability,
        binds: BindValues,
        base_uris: Mapping[str, str],
        known_roots: Collection[str],
        *,
        mock: bool = False,
        script_limits: ScriptLimits = DEFAULT_SCRIPT_LIMITS,
        concurrent_steps: bool = False,
        grants: Mapping[str, ClientCredentialsPolicy] | None = None,
        environ: Mapping[str, str] | None = None,
    ):
        self.capability = capability
        self.concurrent_steps = concurrent_steps
        self.script_limits = script_limits
        self.mock = mock
        """``serve --mock``: every operation answers from its outputs' static values (D81)."""
        self.binds = binds
        self.known_roots = frozenset(known_roots)
        """Every root a ``with`` reference could start with in this file, to warn about wrong ones (D20)."""
        self.findings: list[Finding] = []
        self.consumed = ConsumedCalls(capability, binds, base_uris, self.findings, grants or {}, environ or {})

    def compile(self, exposed: Exposed) -> OperationPlan | None:
        if exposed.forward is not None:
            return self._forward(exposed, exposed.forward.target_namespace)
        if self.mock or (exposed.call is None and not exposed.steps):
            return self._mock(exposed)
        if exposed.steps:
            return self._orchestrated(exposed)
        return self._simple(exposed, exposed.call or "")

    def _forward(self, exposed: Exposed, namespace: str) -> OperationPlan | None:
        """D82: one step whose call is the namespace itself (no path, no operation): its base URI,
        credentials and consumes-level ``value`` parameters. Mock mode leaves it without steps."""
        consumes = self.capability.consumes.get(namespace)
        if consumes is None:
            self.findings.append(
                Finding.error(
                    (exposed.forward.at if exposed.forward else exposed.at) + ("targetNamespace",),
                    f"forward targetNamespace '{namespace}' names no consumes namespace of this file (D4); "
                    f"known: {', '.join(self.capability.consumes) or 'none'}",
                )
            )
            return None
        if self.mock:
            return OperationPlan(exposed, (), (), PASSTHROUGH, self.binds, orchestrated=True)
        whole = ConsumedOperation(
            namespace, FORWARD_OPERATION, "GET", "", consumes.parameters, None, "json", consumes.at
        )
        call = self.consumed.call(consumes, whole)
        if call is None:
            return None
        arguments = tuple(Argument(p, with_source(p.value, ())) for p in consumes.parameters if p.value is not None)
        step = CallStep("forward", call.with_arguments(arguments))
        return OperationPlan(exposed, (), (step,), PASSTHROUGH, self.binds)

    def _mock(self, exposed: Exposed) -> OperationPlan:
        """Mock mode: no step, the outputs' ``value``/``const`` templated with the inputs (D81)."""
        mapper = compile_mock(exposed.outputs)
        return OperationPlan(exposed, self._inputs(exposed, {}, NONE), (), mapper, self.binds, orchestrated=True)

    def _orchestrated(self, exposed: Exposed) -> OperationPlan | None:
        """Steps in declared order, each compiled by its kind (``stepkinds``); each ``with`` may
        read inputs and earlier steps' results (D80)."""
        context = _Orchestration(self, exposed)
        steps: list[Step] = []
        failed = exposed.max_pages is not None
        if failed:
            self.findings.append(
                Finding.error(exposed.at + (PAGINATION,), "pages: all applies to an operation with 'call', not 'steps'")
            )
        for position, spec in enumerate(exposed.steps):
            if spec.name in context.known:
                self.findings.append(Finding.error(spec.at + ("name",), f"duplicate step name '{spec.name}'"))
            kind = STEP_KINDS.get(spec.type)
            compiled = kind.compile(spec, context) if kind is not None else None
            if compiled is None:
                failed = True
            else:
                steps.append(compiled)
            context.known[spec.name] = position
        known = context.known
        for mapping in exposed.mappings:
            if step_of(mapping.value) not in known:
                self.findings.append(
                    Finding.error(
                        mapping.at + ("value",),
                        f"'{mapping.value}' reads no step of this operation (known: {', '.join(known)})",
                    )
                )
                failed = True
        mapper, findings = compile_results_mapper(exposed.outputs, exposed.mappings, exposed.steps[-1].name)
        self.findings.extend(findings)
        if failed or findings:
            return None
        inputs = self._inputs(exposed, context.inferred, context.credentials)
        waves = _waves(tuple(steps), context.reads, self.concurrent_steps)
        kinds = {spec.name: spec.type for spec in exposed.steps}
        return OperationPlan(
            exposed, inputs, tuple(steps), mapper, self.binds, orchestrated=True, waves=waves, step_kinds=kinds
        )

    def call_step(
        self, context: _Orchestration, name: str, call_name: str, with_: Mapping[str, Any], at: DocPath
    ) -> Step | None:
        """A ``call`` step: its consumed operation, each ``with`` value bound to the parameter it
        fills (D20, D21), the inputs it implies (D25) and the earlier steps it reads (D80); a call
        into a namespace of another registered kind (``type: mcp``) is that kind's to compile."""
        target = self._consumed_kind(call_name)
        if target is not None:
            kind, consumes = target
            return kind.compile(name, consumes, call_name.partition(".")[2], with_, at, context)
        exposed, known = context.exposed, context.known
        resolved = self.consumed.resolve(call_name)
        call = self.consumed.call(*resolved) if resolved else None
        if resolved is None:
            self._unresolved(call_name, at + ("call",))
        if call is None or resolved is None:
            return None
        sources = {key: self.step_source(value, exposed, known) for key, value in with_.items()}
        arguments, step_inferred = self._arguments(exposed, resolved[1], sources, call.credentials, at)
        context.inferred.update(step_inferred)
        if not context.credentials.header_names:
            context.credentials = call.credentials
        scope = resolved[1].parameters + tuple(step_inferred.values())
        self._check_templates(exposed, sources, scope, at, known)
        shape, shape_findings = compile_step_shape(resolved[1].outputs)
        self.findings.extend(shape_findings)
        if shape_findings:
            return None
        context.reads[name] = _reads(sources.values(), known, call)
        return CallStep(name, call.with_arguments(arguments), shape)

    def step_source(self, value: Any, exposed: Exposed, known: Mapping[str, int]) -> WithSource | StepValue:
        if isinstance(value, str) and step_of(value) is not None:
            try:
                step_value = compile_step_value(value, known)
            except MappingError:
                step_value = None
            if step_value is not None:
                return step_value
        return with_source(value, exposed.aliases)

    def _unresolved(self, call: str, at: tuple[str | int, ...]) -> None:
        known = ", ".join(sorted(f"{c.namespace}.{o}" for c in self.capability.consumes.values() for o in c.operations))
        self.findings.append(
            Finding.error(at, f"call '{call}' does not resolve to a consumed operation (D4); known: {known or 'none'}")
        )

    def _consumed_kind(self, call: str) -> tuple[ConsumedCallKind, Consumes] | None:
        """The registered kind of the namespace ``call`` names, when it is not ``http``."""
        consumes = self.capability.consumes.get(call.partition(".")[0])
        kind = CONSUMED_CALL_KINDS.get(consumes.kind) if consumes is not None else None
        return (kind, consumes) if kind is not None and consumes is not None else None

    def _simple_step(self, exposed: Exposed, call_name: str) -> OperationPlan | None:
        """Simple mode into a namespace of another kind: one step whose result the outputs map,
        as a consumed operation's answer is (D45)."""
        context = _Orchestration(self, exposed)
        step = self.call_step(context, call_name, call_name, exposed.with_, exposed.at)
        mapper, findings = compile_outputs(exposed.outputs)
        self.findings.extend(findings)
        if step is None or findings:
            return None
        mapped = Mapper(False, lambda results, lookup: mapper.apply(results.get(call_name), lookup))
        inputs = self._inputs(exposed, context.inferred, NONE)
        return OperationPlan(exposed, inputs, (step,), mapped, self.binds, orchestrated=True, waves=((step,),))

    def _simple(self, exposed: Exposed, call_name: str) -> OperationPlan | None:
        if self._consumed_kind(call_name) is not None:
            return self._simple_step(exposed, call_name)
        aliases = exposed.aliases  # a tuple made at each read
        sources = {key: with_source(value, aliases) for key, value in exposed.with_.items()}
        resolved = self.consumed.resolve(call_name)
        if resolved is None:
            self._unresolved(call_name, exposed.at + ("call",))
            self._check_templates(exposed, sources, ())
            return None
        consumes, operation = resolved
        call = self.consumed.call(consumes, operation)
        if call is None:
            return None
        arguments, inferred = self._arguments(exposed, operation, sources, call.credentials, exposed.at)
        inputs = self._inputs(exposed, inferred, call.credentials)
        mapper, output_findings = compile_outputs(exposed.outputs)
        self.findings.extend(output_findings)
        self._check_templates(exposed, sources, operation.parameters + tuple(inputs))
        step = CallStep(call_name, call.with_arguments(arguments))
        paging = self._paging(exposed, operation)
        if exposed.max_pages is not None and paging is None:
            return None
        return OperationPlan(exposed, inputs, (step,), mapper, self.binds, paging=paging)

    def _paging(self, exposed: Exposed, operation: ConsumedOperation) -> Paging | None:
        """D121: ``pages: all`` needs the consumed operation's ``x-naftiko-pagination``."""
        if exposed.max_pages is None:
            return None
        at = exposed.at + (PAGINATION,)
        if operation.pagination is None:
            self.findings.append(
                Finding.error(
                    at,
                    f"pages: all, but '{operation.namespace}.{operation.name}' declares no '{PAGINATION}': "
                    "say how its list pages on the consumed operation",
                )
            )
            return None
        try:
            return compile_paging(operation.pagination, exposed.max_pages)
        except MappingError as exc:
            self.findings.append(Finding.error(operation.pagination.at, str(exc)))
            return None

    def _arguments(
        self,
        exposed: Exposed,
        operation: ConsumedOperation,
        sources: Mapping[str, WithSource | StepValue],
        credentials: Credentials,
        at_step: tuple[str | int, ...],
    ) -> tuple[tuple[Argument, ...], dict[str, InputSpec]]:
        """D20/D21: each ``with`` entry, in YAML order, bound to a consumed parameter (or to a
        ``{{name}}`` of the operation's body template, which that value fills)."""
        arguments: list[Argument] = []
        inferred: dict[str, InputSpec] = {}
        route_by_key = {normalize_name(n): n for n in exposed.path_parameters}
        placeholders = {r.name for r in path_parts(operation.path) if isinstance(r, Reference) and not r.namespace}
        body_names = {reference.name for _, reference in template_uses(operation.body) if not reference.namespace}
        wrong_roots = self.known_roots - set(exposed.aliases)
        for key, source in sources.items():
            at = at_step + ("with", key)
            parameter = _find_parameter(operation, key)
            if parameter is None and key in placeholders:
                parameter = Parameter(key, "path", "string", None, True)
            if parameter is None and key in body_names:
                parameter = Parameter(key, "body")
            if parameter is None:
                self.findings.append(
                    Finding.warning(
                        at,
                        f"'{key}' names no parameter of {operation.namespace}.{operation.name}; "
                        "its value is not sent (D21)",
                    )
                )
                continue
            if parameter.location == "environment":
                self.findings.append(
                    Finding.warning(
                        at, f"'{key}' is read from the environment variable {parameter.name} (D73); not from 'with'"
                    )
                )
                continue
            if isinstance(source, Literal) and unresolved_expression(source):
                self.findings.append(Finding.error(at, _foreign_this(source, exposed)))
                continue
            if isinstance(source, Literal) and looks_like_reference(source.value, wrong_roots):
                self.findings.append(
                    Finding.warning(
                        at,
                        f"'{source.value}' looks like a reference but its root is "
                        f"not this adapter's ({', '.join(exposed.aliases)}); it is "
                        "sent as literal text (D20)",
                    )
                )
            arguments.append(Argument(parameter, source))
            if isinstance(source, InputReference):
                inferred[source.name] = _inferred_input(source.name, parameter, route_by_key, credentials)
        given = {argument.parameter.name for argument in arguments}
        for parameter in operation.parameters:
            if parameter.name in given:
                continue
            if parameter.location == "environment":
                # D73: the variable reaches the operation's path and body under its parameter name.
                arguments.append(Argument(parameter, Template.parse("{{" + parameter.name + "}}")))
                given.add(parameter.name)
            elif parameter.value is not None:
                source = with_source(parameter.value, exposed.aliases, plain_references=False)
                if isinstance(source, Literal) and unresolved_expression(source):
                    self.findings.append(Finding.error(parameter.at + ("value",), _foreign_this(source, exposed)))
                    continue
                arguments.append(Argument(parameter, source))
                given.add(parameter.name)
                if isinstance(source, InputReference):
                    inferred.setdefault(source.name, _inferred_input(source.name, parameter, route_by_key, credentials))
        arguments += _filled_by_path_variables(operation, placeholders, arguments, route_by_key)
        return tuple(arguments), inferred

    def _inputs(
        self, exposed: Exposed, inferred: dict[str, InputSpec], credentials: Credentials
    ) -> tuple[InputSpec, ...]:
        """Declared inputs override inferred ones; every path parameter is an input (D25)."""
        inputs = dict(inferred)
        route_by_key = {normalize_name(n): n for n in exposed.path_parameters}
        for declared in exposed.inputs:
            try:
                pattern = _compile_pattern(declared.pattern)
            except re.error as exc:
                self.findings.append(Finding.error(declared.at + ("pattern",), f"invalid pattern: {exc}"))
                pattern = None
            in_path = normalize_name(declared.name) in route_by_key
            location = "path" if in_path else (declared.location or "query")
            credential = location == "header" and declared.name.lower() in credentials.header_names
            value = self._input_value(declared) if declared.value is not None else None
            inputs[declared.name] = InputSpec(
                name=declared.name,
                location=location,
                type=declared.type,
                description=declared.description,
                required=(declared.required or in_path) and not credential and value is None,
                pattern=pattern,
                fills=declared.name,
                credential=credential,
                value=value,
            )
        known = {normalize_name(n) for n in inputs}
        for name in exposed.path_parameters:
            if normalize_name(name) not in known:
                inputs[name] = InputSpec(
                    name=name, location="path", type="string", required=True, description=None, pattern=None
                )
        return tuple(inputs.values())

    def _input_value(self, declared: Parameter) -> InputValue | None:
        """D25a: a ``$.`` expression reads the JSON request body (REST) or the arguments (MCP);
        a ``{{VAR}}`` text takes bind variables; any other text is a constant."""
        text = declared.value or ""
        at = declared.at + ("value",)
        if text.strip().startswith("$this."):
            self.findings.append(Finding.error(at, f"a '$this.' expression in an input's value {NOT_YET} (D25a)"))
            return None
        if text.strip().startswith("$"):
            try:
                return InputValue(text, extract=compile_path(text))
            except MappingError as exc:
                self.findings.append(Finding.error(at, str(exc)))
                return None
        if "{{" in text:
            rendered = render_from_binds(text, self.binds)
            if rendered is None:
                self.findings.append(
                    Finding.error(at, f"'{text}' names a variable that is not a bind variable, or is unset (D25a)")
                )
                return None
            return InputValue(text, constant=rendered)
        return InputValue(text, constant=text)

    def _check_templates(
        self,
        exposed: Exposed,
        sources: Mapping[str, WithSource | StepValue],
        scope_items: tuple[Parameter | InputSpec, ...],
        at: tuple[str | int, ...] | None = None,
        steps: Collection[str] = (),
    ) -> None:
        """D4: every ``{{X}}`` in a ``with`` value names a bind variable, an input in scope or
        (``{{<step>.<field>}}``) an earlier step's result."""
        scope = {item.name for item in scope_items} | {p.name for p in exposed.inputs}
        for key, source in sources.items():
            if not isinstance(source, Template):
                continue
            for reference in source.references:
                is_bind, _ = self.binds.lookup(reference)
                in_scope = (
                    reference.name in scope and (reference.namespace is None or reference.namespace in exposed.aliases)
                ) or reference.namespace in steps
                if not is_bind and not in_scope:
                    self.findings.append(
                        Finding.error(
                            (exposed.at if at is None else at) + ("with", key),
                            f"'{{{{{reference.text}}}}}' names neither a bind variable nor an "
                            "input of this operation (D4)",
                        )
                    )


class _Orchestration:
    """One orchestrated operation being compiled: what its step kinds may ask (``StepCompiling``)
    and what its call steps leave for the plan (inferred inputs, credentials, reads)."""

    def __init__(self, compiler: PlanCompiler, exposed: Exposed):
        self.compiler = compiler
        self.exposed = exposed
        self.known: dict[str, int] = {}
        self.inferred: dict[str, InputSpec] = {}
        self.credentials = NONE
        self.reads: dict[str, frozenset[str]] = {}

    @property
    def script_limits(self) -> ScriptLimits:
        return self.compiler.script_limits

    def error(self, at: DocPath, message: str) -> None:
        self.compiler.findings.append(Finding.error(at, message))

    def source(self, value: Any) -> WithSource | StepValue:
        return self.compiler.step_source(value, self.exposed, self.known)

    @property
    def consumed(self) -> ConsumedCalls:
        return self.compiler.consumed

    def infer(self, name: str) -> None:
        self.inferred.setdefault(name, _inferred_input(name, Parameter(name, None), {}, NONE))

    def upstream(self, name: str, call: str, with_: Mapping[str, Any], at: DocPath) -> Step | None:
        return self.compiler.call_step(self, name, call, with_, at)

    @contextmanager
    def scope(self, names: Iterable[str]) -> Iterator[None]:
        added = [name for name in names if name not in self.known]
        for name in added:
            self.known[name] = len(self.known)
        try:
            yield
        finally:
            for name in added:
                del self.known[name]


def _foreign_this(source: Literal, exposed: Exposed) -> str:
    return (
        f"'{source.value}' names an input of another namespace than this adapter's "
        f"({', '.join(exposed.aliases)}); an expression is never sent as text (D20)"
    )


def _inferred_input(
    name: str, parameter: Parameter, route_by_key: Mapping[str, str], credentials: Credentials
) -> InputSpec:
    """D25: an input inferred from ``with``, typed by the consumed parameter it fills."""
    in_path = normalize_name(name) in route_by_key
    location = "path" if in_path else (parameter.location or "query")
    credential = location == "header" and parameter.name.lower() in credentials.header_names
    return InputSpec(
        name=name,
        location=location,
        type=parameter.type,
        description=parameter.description,
        required=(parameter.required or in_path) and not credential,
        pattern=_compile_pattern(parameter.pattern),
        fills=parameter.name,
        credential=credential,
    )


def _filled_by_path_variables(
    operation: ConsumedOperation,
    placeholders: Collection[str],
    arguments: list[Argument],
    route_by_key: Mapping[str, str],
) -> list[Argument]:
    """What no ``with`` entry fills, a variable of the exposed path (or of an MCP resource's URI
    template) of the same name does (D25 matching): the reference engine hands a call every such
    variable by name (``ResourceHandler.readDynamic``), so a resource template needs no ``with``."""
    if not route_by_key:
        return []  # nothing to fill from: every MCP tool, every REST route without variables
    filled = {normalize_name(a.parameter.name) for a in arguments}
    extra = []
    named = [*((p.name, p) for p in operation.parameters), *((p, None) for p in placeholders)]
    for name, parameter in named:
        key = normalize_name(name)
        if key in route_by_key and key not in filled:
            filling = parameter or Parameter(name, "path", "string", None, True)
            extra.append(Argument(filling, InputReference(route_by_key[key])))
            filled.add(key)
    return extra


def _reads(sources: Iterable[WithSource | StepValue], known: Mapping[str, int], call: UpstreamCall) -> frozenset[str]:
    """The earlier steps a call step reads: through its ``with``, or a ``{{<step>.<field>}}`` of
    its consumed path; a body template may read any of them."""
    if call.body is not None:
        return frozenset(known)
    path = (part for part in call.path_parts if isinstance(part, Reference))
    names = {r.namespace for r in path if r.namespace is not None and r.namespace in known}
    for source in sources:
        if isinstance(source, StepValue):
            names.add(source.step)
        elif isinstance(source, Template):
            names.update(r.namespace for r in source.references if r.namespace is not None and r.namespace in known)
    return frozenset(names)


def _waves(
    steps: tuple[Step, ...], reads: Mapping[str, frozenset[str]], concurrent: bool
) -> tuple[tuple[Step, ...], ...]:
    """D80: a concurrent step (a call) joins the wave before it when every step of that wave is
    concurrent and it reads none of their results; otherwise (or without ``concurrent``) it starts a new wave."""
    waves: list[list[Step]] = []
    for step in steps:
        last = waves[-1] if waves else None
        joins = (
            concurrent
            and last is not None
            and step.concurrent
            and all(other.concurrent for other in last)
            and not reads.get(step.name, frozenset()) & {other.name for other in last}
        )
        if joins and last is not None:
            last.append(step)
        else:
            waves.append([step])
    return tuple(tuple(wave) for wave in waves)
