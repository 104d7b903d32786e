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
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any

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
from ..spec.model import Capability, ConsumedOperation, Consumes, Exposed, Parameter
from .bodies import BodyTemplate, UnknownBodyType, compile_body
from .codecs import DECODERS, Decoder
from .credentials import Credentials, compile_credentials, render_from_binds
from .inputs import InputSpec, InputValue
from .outputs import Mapper, MappingError, compile_outputs, compile_path
from .redaction import secret_forms


@dataclass(frozen=True)
class Argument:
    """One consumed parameter and where its value comes from."""

    parameter: Parameter
    source: WithSource


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

    @property
    def label(self) -> str:
        return f"{self.namespace}.{self.operation}"


@dataclass(frozen=True)
class CallStep:
    """One upstream call of an operation. Simple mode (``call`` + ``with``) is a plan of one step."""

    name: str
    call: UpstreamCall


@dataclass(frozen=True)
class OperationPlan:
    exposed: Exposed
    inputs: tuple[InputSpec, ...]
    steps: tuple[CallStep, ...]
    mapper: Mapper
    binds: BindValues

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
        self, capability: Capability, binds: BindValues, base_uris: Mapping[str, str], known_roots: Collection[str]
    ):
        self.capability = capability
        self.binds = binds
        self.base_uris = base_uris
        self.known_roots = frozenset(known_roots)
        """Every root a ``with`` reference could start with in this file, to warn about wrong ones (D20)."""
        self.findings: list[Finding] = []
        self._calls: dict[str, UpstreamCall | None] = {}
        self._bad_base_uris: set[str] = set()

    def compile_consumed(self) -> None:
        """Every consumed operation's request side, called or not: a format or body type this
        runtime cannot handle is refused at its own line even before an operation calls it."""
        for consumes in self.capability.consumes.values():
            for operation in consumes.operations.values():
                self._upstream_call(consumes, operation)

    def compile(self, exposed: Exposed) -> OperationPlan | None:
        sources = {key: with_source(value, exposed.aliases) for key, value in exposed.with_.items()}
        resolved = self._resolve(exposed.call)
        if resolved is None:
            known = ", ".join(
                sorted(f"{c.namespace}.{o}" for c in self.capability.consumes.values() for o in c.operations)
            )
            self.findings.append(
                Finding.error(
                    exposed.at + ("call",),
                    f"call '{exposed.call}' does not resolve to a consumed operation (D4); known: {known or 'none'}",
                )
            )
            self._check_templates(exposed, sources, ())
            return None
        consumes, operation = resolved
        call = self._upstream_call(consumes, operation)
        if call is None:
            return None
        arguments, inferred = self._arguments(exposed, operation, sources, call.credentials)
        inputs = self._inputs(exposed, inferred, call.credentials)
        mapper, output_findings = compile_outputs(exposed.outputs)
        self.findings.extend(output_findings)
        self._check_templates(exposed, sources, operation.parameters + tuple(inputs))
        step = CallStep(exposed.call, replace(call, arguments=arguments))
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
        decoder = DECODERS.get(operation.output_raw_format)
        if decoder is None:
            self.findings.append(
                Finding.error(
                    operation.at + ("outputRawFormat",),
                    f"response format '{operation.output_raw_format}' is not implemented "
                    f"by this runtime yet (known: {', '.join(DECODERS)})",
                )
            )
            return None
        try:
            body = compile_body(operation.body) if operation.body is not None else None
        except UnknownBodyType as exc:
            self.findings.append(Finding.error(operation.at + ("body", "type"), str(exc)))
            return None
        credentials = compile_credentials(consumes.authentication, self.binds)
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
        )
        self._calls[label] = call
        return call

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
        sources: Mapping[str, WithSource],
        credentials: Credentials,
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
            at = exposed.at + ("with", key)
            parameter = _find_parameter(operation, key)
            if parameter is None and key in placeholders:
                parameter = Parameter(key, "path", "string", None, True)
            if parameter is None and key in body_names:
                parameter = Parameter(key, "body")
            if parameter is None:
                self.findings.append(
                    Finding.warning(at, f"'{key}' names no parameter of {exposed.call}; its value is not sent (D21)")
                )
                continue
            if parameter.location == "environment":
                self.findings.append(
                    Finding.warning(
                        at, f"'{key}' is read from the environment variable {parameter.name} (D73); not from 'with'"
                    )
                )
                continue
            if unresolved_expression(source):
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
                if unresolved_expression(source):
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
        self, exposed: Exposed, sources: Mapping[str, WithSource], scope_items: tuple[Parameter | InputSpec, ...]
    ) -> None:
        """D4: every ``{{X}}`` in a ``with`` value names a bind variable or an input in scope."""
        scope = {item.name for item in scope_items} | {p.name for p in exposed.inputs}
        for key, source in sources.items():
            if not isinstance(source, Template):
                continue
            for reference in source.references:
                is_bind, _ = self.binds.lookup(reference)
                in_scope = reference.name in scope and (
                    reference.namespace is None or reference.namespace in exposed.aliases
                )
                if not is_bind and not in_scope:
                    self.findings.append(
                        Finding.error(
                            exposed.at + ("with", key),
                            f"'{{{{{reference.text}}}}}' names neither a bind variable nor an "
                            "input of this operation (D4)",
                        )
                    )


def _foreign_this(source: WithSource, exposed: Exposed) -> str:
    value = source.value if isinstance(source, Literal) else source
    return (
        f"'{value}' names an input of another namespace than this adapter's "
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
