"""Compiling an exposed operation or tool into an ``OperationPlan``, once, at load time.

A plan has two sides. The exposed side is what the caller deals with: the inputs (declared, and
inferred from ``with``, D25), the steps, and the output mapping. Each step's ``UpstreamCall`` is
the consumed side: which namespace's client, the method and URL template, where each ``with``
value comes from (D20) and which consumed parameter it fills (D21), the body template, the
response decoder, the credentials and the secrets to redact. At request time the executor only
reads the plan; nothing is parsed or looked up by name there.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..settings import ClientCredentialsPolicy
from ..spec.binds import BindValues, template_uses
from ..spec.builder import NOT_YET
from ..spec.diagnostics import Finding
from ..spec.expressions import (
    PLACEHOLDER,
    InputReference,
    Literal,
    Lookup,
    Reference,
    Template,
    WithSource,
    looks_like_reference,
    normalize_name,
    unresolved_expression,
    with_source,
)
from ..spec.model import (
    Capability,
    ClientCredentials,
    ConsumedOperation,
    Consumes,
    Exposed,
    LookupStepSpec,
    Parameter,
    ScriptStepSpec,
)
from .bodies import BodyTemplate, UnknownBodyType, compile_body
from .codecs import DECODERS, Decoder, FormatSetupError
from .credentials import (
    NONE,
    Credentials,
    compile_configured_grant,
    compile_credentials,
    compile_grant,
    render_from_binds,
)
from .inputs import InputSpec, InputValue
from .outputs import PASSTHROUGH, Mapper, MappingError, compile_outputs, compile_path
from .redaction import secret_forms
from .scripts import ScriptLimits, ScriptStep, ScriptSyntaxError, check_syntax
from .steps import LookupStep, StepValue, compile_lookup, compile_results_mapper, compile_step_value, step_of

FORWARD_OPERATION = "(forward)"
"""The operation name of a forward's call: no consumed operation can be named so."""


@dataclass(frozen=True)
class Argument:
    """One consumed parameter and where its value comes from."""

    parameter: Parameter
    source: WithSource | StepValue


@dataclass(frozen=True)
class BinaryOutput:
    """``outputRawFormat: binary`` (beta4): the body is streamed to the caller, never decoded."""

    media_type: str | None
    """``outputMediaType``; ``None`` passes the upstream's Content-Type on."""
    max_size: int | None
    """``maxBinarySize`` in bytes; ``None`` means the serve-time ``--max-body-size``."""


@dataclass(frozen=True)
class UpstreamCall:
    """The consumed side of one step: everything needed to build, send and decode one request."""

    namespace: str
    operation: str
    method: str
    base_uri: str
    path_parts: tuple[str | Reference, ...]
    arguments: tuple[Argument, ...]
    body: BodyTemplate | None
    decoder: Decoder
    credentials: Credentials
    secret_forms: tuple[bytes, ...]
    """The gateway's secrets as they may appear in an upstream reply: redacted from every reply
    before an adapter sees it (D55, D56)."""
    binary: BinaryOutput | None = None

    @property
    def label(self) -> str:
        return f"{self.namespace}.{self.operation}"


@dataclass(frozen=True)
class CallStep:
    """One upstream call of an operation. Simple mode (``call`` + ``with``) is a plan of one step."""

    name: str
    call: UpstreamCall


Step = CallStep | LookupStep | ScriptStep
DEFAULT_SCRIPT_LIMITS = ScriptLimits(timeout=60.0, memory=64 * 1024 * 1024)
"""The spec's engine default time (60,000 ms); ``Settings`` passes the served values."""


@dataclass(frozen=True)
class OperationPlan:
    exposed: Exposed
    inputs: tuple[InputSpec, ...]
    steps: tuple[Step, ...]
    mapper: Mapper
    binds: BindValues
    orchestrated: bool = False
    """The mapper reads every step's result by name (``$.<step>.<path>``), not one reply; with
    no steps at all the plan is a mock and the mapper reads only the inputs (D81)."""
    waves: tuple[tuple[Step, ...], ...] = ()
    """The steps grouped as they run: one by one, or (``Settings.concurrent_steps``) consecutive
    call steps that read none of each other's results together (D80)."""

    @property
    def calls(self) -> tuple[UpstreamCall, ...]:
        """The upstream calls the plan may make, for opening clients and listing routes."""
        return tuple(step.call for step in self.steps if isinstance(step, CallStep))

    def lookup(self, inputs: Mapping[str, Any]) -> Lookup:
        """Template lookup for this operation: bind variables first, then inputs (D12)."""
        binds, aliases = self.binds, self.exposed.aliases

        def find(reference: Reference) -> tuple[bool, Any]:
            is_bind, value = binds.lookup(reference)
            if is_bind:
                return value is not None, value
            if reference.namespace is None or reference.namespace in aliases:
                return (reference.name in inputs), inputs.get(reference.name)
            return False, None

        return find


def _find_parameter(operation: ConsumedOperation, key: str) -> Parameter | None:
    for parameter in operation.parameters:
        if parameter.name == key:
            return parameter
    wanted = normalize_name(key).lower()
    for parameter in operation.parameters:
        if normalize_name(parameter.name).lower() == wanted:
            return parameter
    return None


def _path_parts(path: str) -> tuple[str | Reference, ...]:
    parts: list[str | Reference] = []
    position = 0
    for match in PLACEHOLDER.finditer(path):
        parts.append(path[position : match.start()])
        parts.append(Reference(None, match.group(1)))
        position = match.end()
    parts.append(path[position:])
    return tuple(p for p in parts if p != "")


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
        self.grants = grants or {}
        """Client credentials grants of the runtime configuration, by namespace (D91)."""
        self.environ = environ or {}
        """Where a configured grant's id and secret are read, once, here at load time."""
        self.concurrent_steps = concurrent_steps
        self.script_limits = script_limits
        self.mock = mock
        """``serve --mock``: every operation answers from its outputs' static values (D81)."""
        self.binds = binds
        self.base_uris = base_uris
        self.known_roots = frozenset(known_roots)
        """Every root a ``with`` reference could start with in this file, to warn about wrong ones (D20)."""
        self.findings: list[Finding] = []
        self._calls: dict[str, UpstreamCall | None] = {}
        self._bad_base_uris: set[str] = set()
        self._credentials: dict[str, Credentials] = {}

    def compile_consumed(self) -> None:
        """Every consumed operation's request side, called or not: a format or body type this
        runtime cannot handle is refused at its own line even before an operation calls it."""
        for consumes in self.capability.consumes.values():
            if consumes.client_credentials is not None:
                self._check_grant_templates(consumes.client_credentials)
            for operation in consumes.operations.values():
                self._upstream_call(consumes, operation)

    def _check_grant_templates(self, grant: ClientCredentials) -> None:
        """D4: the client's id and secret may name bind variables only, never a caller's input."""
        for key, template in (("clientId", grant.client_id), ("clientSecret", grant.client_secret)):
            for reference in Template.parse(template).references:
                if not self.binds.lookup(reference)[0]:
                    self.findings.append(
                        Finding.error(
                            grant.at + (key,),
                            f"'{{{{{reference.name}}}}}' in {key} names no bind variable (D4): "
                            "client credentials come from binds only",
                        )
                    )

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
        call = self._upstream_call(consumes, whole)
        if call is None:
            return None
        arguments = tuple(Argument(p, with_source(p.value, ())) for p in consumes.parameters if p.value is not None)
        step = CallStep("forward", replace(call, arguments=arguments))
        return OperationPlan(exposed, (), (step,), PASSTHROUGH, self.binds)

    def _mock(self, exposed: Exposed) -> OperationPlan:
        """Mock mode: no step, the outputs' ``value``/``const`` templated with the inputs (D81)."""
        mapper, findings = compile_outputs(exposed.outputs)
        self.findings.extend(findings)
        return OperationPlan(exposed, self._inputs(exposed, {}, NONE), (), mapper, self.binds, orchestrated=True)

    def _orchestrated(self, exposed: Exposed) -> OperationPlan | None:
        """Steps in declared order; each ``with`` may read inputs and earlier steps' results (D80)."""
        known: dict[str, int] = {}
        reads: dict[str, frozenset[str]] = {}
        steps: list[Step] = []
        inferred: dict[str, InputSpec] = {}
        credentials = NONE
        failed = False
        for position, spec in enumerate(exposed.steps):
            if spec.name in known:
                self.findings.append(Finding.error(spec.at + ("name",), f"duplicate step name '{spec.name}'"))
            if isinstance(spec, ScriptStepSpec):
                script = self._script(spec, exposed, known)
                failed = failed or script is None
                if script is not None:
                    steps.append(script)
            elif isinstance(spec, LookupStepSpec):
                try:
                    steps.append(
                        compile_lookup(spec.name, spec.index, spec.match, spec.lookup_value, spec.fields, known)
                    )
                except MappingError as exc:
                    self.findings.append(Finding.error(spec.at, str(exc)))
                    failed = True
            else:
                resolved = self._resolve(spec.call)
                call = self._upstream_call(*resolved) if resolved else None
                if resolved is None:
                    self._unresolved(spec.call, spec.at + ("call",))
                if call is None or resolved is None:
                    failed = True
                    known[spec.name] = position
                    continue
                sources = {key: self._step_source(value, exposed, known) for key, value in spec.with_.items()}
                arguments, step_inferred = self._arguments(exposed, resolved[1], sources, call.credentials, spec.at)
                inferred.update(step_inferred)
                credentials = credentials if credentials.header_names else call.credentials
                scope = resolved[1].parameters + tuple(step_inferred.values())
                self._check_templates(exposed, sources, scope, spec.at, known)
                steps.append(CallStep(spec.name, replace(call, arguments=arguments)))
                reads[spec.name] = _reads(sources.values(), known, call.body is not None)
            known[spec.name] = position
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
        inputs = self._inputs(exposed, inferred, credentials)
        waves = _waves(tuple(steps), reads, self.concurrent_steps)
        return OperationPlan(exposed, inputs, tuple(steps), mapper, self.binds, orchestrated=True, waves=waves)

    def _script(self, spec: ScriptStepSpec, exposed: Exposed, known: Mapping[str, int]) -> ScriptStep | None:
        """D83: every source compiled once now, so that a syntax error stops the load at its step."""
        sources = (*spec.dependencies, spec.source)
        for source in sources:
            try:
                check_syntax(source)
            except ScriptSyntaxError as exc:
                self.findings.append(Finding.error(spec.at + ("file",), f"script of step '{spec.name}': {exc}"))
                return None
        with_ = tuple((key, self._step_source(value, exposed, known)) for key, value in spec.with_.items())
        return ScriptStep(spec.name, sources, with_, self.script_limits)

    def _step_source(self, value: Any, exposed: Exposed, known: Mapping[str, int]) -> WithSource | StepValue:
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

    def _simple(self, exposed: Exposed, call_name: str) -> OperationPlan | None:
        sources = {key: with_source(value, exposed.aliases) for key, value in exposed.with_.items()}
        resolved = self._resolve(call_name)
        if resolved is None:
            self._unresolved(call_name, exposed.at + ("call",))
            self._check_templates(exposed, sources, ())
            return None
        consumes, operation = resolved
        call = self._upstream_call(consumes, operation)
        if call is None:
            return None
        arguments, inferred = self._arguments(exposed, operation, sources, call.credentials, exposed.at)
        inputs = self._inputs(exposed, inferred, call.credentials)
        mapper, output_findings = compile_outputs(exposed.outputs)
        self.findings.extend(output_findings)
        self._check_templates(exposed, sources, operation.parameters + tuple(inputs))
        step = CallStep(call_name, replace(call, arguments=arguments))
        return OperationPlan(exposed, inputs, (step,), mapper, self.binds)

    def _resolve(self, call: str) -> tuple[Consumes, ConsumedOperation] | None:
        namespace, _, name = call.partition(".")
        consumes = self.capability.consumes.get(namespace)
        operation = consumes.operations.get(name) if consumes else None
        return (consumes, operation) if consumes and operation else None

    def _upstream_call(self, consumes: Consumes, operation: ConsumedOperation) -> UpstreamCall | None:
        """The request side of a consumed operation: compiled once, shared by every operation calling it."""
        label = f"{consumes.namespace}.{operation.name}"
        if label in self._calls:
            return self._calls[label]
        self._calls[label] = None
        response_format = DECODERS.get(operation.output_raw_format)
        if response_format is None:
            self.findings.append(
                Finding.error(
                    operation.at + ("outputRawFormat",),
                    f"response format '{operation.output_raw_format}' is not implemented "
                    f"by this runtime yet (known: {', '.join(DECODERS)})",
                )
            )
            return None
        try:
            decoder = response_format.decoder(operation.output_schema, self.capability.file.parent)
        except FormatSetupError as exc:
            self.findings.append(Finding.error(operation.at + ("outputSchema",), str(exc)))
            return None
        try:
            body = compile_body(operation.body) if operation.body is not None else None
        except UnknownBodyType as exc:
            self.findings.append(Finding.error(operation.at + ("body", "type"), str(exc)))
            return None
        credentials = self._credentials_of(consumes)
        base_uri = self.base_uris.get(consumes.namespace) or self._base_uri(consumes)
        if base_uri is None:
            return None
        call = UpstreamCall(
            namespace=consumes.namespace,
            operation=operation.name,
            method=operation.method,
            base_uri=base_uri,
            path_parts=_path_parts("/" + operation.path.lstrip("/") if operation.path else ""),
            arguments=(),
            body=body,
            decoder=decoder,
            credentials=credentials,
            secret_forms=secret_forms([*self.binds.secrets(), *credentials.secrets]),
            binary=(
                BinaryOutput(operation.output_media_type, operation.max_binary_size)
                if operation.output_raw_format == "binary"
                else None
            ),
        )
        self._calls[label] = call
        return call

    def _credentials_of(self, consumes: Consumes) -> Credentials:
        """The namespace's upstream credentials, compiled (and reported on) once."""
        found = self._credentials.get(consumes.namespace)
        if found is None:
            found = self._credentials[consumes.namespace] = self._compile_credentials(consumes)
        return found

    def _compile_credentials(self, consumes: Consumes) -> Credentials:
        """A grant of the runtime configuration wins over the file's extension key or
        ``authentication`` (D91: the configuration is the operator's). Replacing the extension key
        is warned about where it is (the file already needs one); replacing ``authentication`` is
        not, so that an official file stays valid under ``--strict``. A grant whose variables are
        unset counts as absent, as a block with unset binds does (D13): the file's own apply."""
        configured = self.grants.get(consumes.namespace)
        if configured is not None:
            credentials, unset = compile_configured_grant(consumes.namespace, configured, self.environ)
            if not unset:
                self._replaced_extension(consumes)
                return credentials
            self.findings.append(
                Finding.warning(
                    consumes.at,
                    f"the client credentials grant of consumes '{consumes.namespace}' in the runtime "
                    f"configuration reads {', '.join('$' + name for name in unset)}, unset: the grant "
                    "counts as absent and the file's own credentials apply (D13)",
                )
            )
        if consumes.client_credentials is not None:
            return compile_grant(consumes.namespace, consumes.client_credentials, self.binds)
        return compile_credentials(consumes.authentication, self.binds)

    def _replaced_extension(self, consumes: Consumes) -> None:
        if consumes.client_credentials is not None:
            self.findings.append(
                Finding.warning(
                    consumes.client_credentials.at,
                    f"the runtime configuration (--config) declares a client credentials grant for "
                    f"consumes '{consumes.namespace}': it replaces this one (D91)",
                )
            )

    def _base_uri(self, consumes: Consumes) -> str | None:
        """A ``baseUri`` with ``{{VAR}}`` takes its bind variables' values, as the reference engine
        does; only then is it known to be an http(s) URL (D4). Reported once per namespace."""
        if "{{" not in consumes.base_uri:
            return consumes.base_uri
        rendered = render_from_binds(consumes.base_uri, self.binds)
        if rendered is None or not rendered.startswith(("http://", "https://")):
            if consumes.namespace not in self._bad_base_uris:
                self._bad_base_uris.add(consumes.namespace)
                why = (
                    "names a variable that is not a bind variable, or is unset"
                    if rendered is None
                    else f"renders as '{rendered}'"
                )
                self.findings.append(
                    Finding.error(
                        consumes.at + ("baseUri",),
                        f"baseUri '{consumes.base_uri}' {why}; it must give an http:// or https:// URL (D4)",
                    )
                )
            return None
        return rendered

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
        placeholders = {r.name for r in _path_parts(operation.path) if isinstance(r, Reference)}
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
        for parameter in operation.parameters:
            if any(a.parameter.name == parameter.name for a in arguments):
                continue
            if parameter.location == "environment":
                # D73: the variable reaches the operation's path and body under its parameter name.
                arguments.append(Argument(parameter, Template.parse("{{" + parameter.name + "}}")))
            elif parameter.value is not None:
                source = with_source(parameter.value, exposed.aliases, plain_references=False)
                if isinstance(source, Literal) and unresolved_expression(source):
                    self.findings.append(Finding.error(parameter.at + ("value",), _foreign_this(source, exposed)))
                    continue
                arguments.append(Argument(parameter, source))
                if isinstance(source, InputReference):
                    inferred.setdefault(source.name, _inferred_input(source.name, parameter, route_by_key, credentials))
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


def _reads(sources: Iterable[WithSource | StepValue], known: Mapping[str, int], body: bool) -> frozenset[str]:
    """The earlier steps a call step's ``with`` reads; a body template may read any of them."""
    if body:
        return frozenset(known)
    names: set[str] = set()
    for source in sources:
        if isinstance(source, StepValue):
            names.add(source.step)
        elif isinstance(source, Template):
            names.update(r.namespace for r in source.references if r.namespace is not None and r.namespace in known)
    return frozenset(names)


def _waves(
    steps: tuple[Step, ...], reads: Mapping[str, frozenset[str]], concurrent: bool
) -> tuple[tuple[Step, ...], ...]:
    """D80: a call step joins the wave before it when every step of that wave is a call step
    whose result it does not read; otherwise (or without ``concurrent``) it starts a new wave."""
    waves: list[list[Step]] = []
    for step in steps:
        last = waves[-1] if waves else None
        joins = (
            concurrent
            and last is not None
            and isinstance(step, CallStep)
            and all(isinstance(other, CallStep) for other in last)
            and not reads.get(step.name, frozenset()) & {other.name for other in last}
        )
        if joins and last is not None:
            last.append(step)
        else:
            waves.append([step])
    return tuple(tuple(wave) for wave in waves)
