"""Compiling an exposed operation or tool into a ``CallPlan``, once, at load time.

A plan holds everything a request needs, already resolved: the caller's inputs (declared and
inferred from ``with``, D25), where each ``with`` value comes from (D20) and which consumed
parameter it fills (D21), the upstream URL template, the credentials, and the output mapper.
At request time the execution core only reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from .binds import BindValues
from .credentials import Credentials, compile_credentials
from .diagnostics import Finding
from .expressions import (
    InputReference, Literal, Reference, Template, WithSource, is_template, looks_like_reference, normalize_name,
    with_source,
)
from .model import Capability, ConsumedOperation, Exposed, Parameter
from .outputs import Mapper, compile_outputs
from .routing import PathTemplateError, split_template

PATH_PLACEHOLDER = re.compile(r"\{\{?\s*([A-Za-z0-9_.*-]+)\s*\}?\}")
BODY_PARAMETER = "body"


@dataclass(frozen=True)
class InputSpec:
    """One input a caller may (or must) give: where a REST request carries it, and its type."""

    name: str
    location: str
    """``path``, ``query``, ``header``, ``cookie`` or ``body``."""
    type: str | None
    required: bool
    description: str | None
    pattern: re.Pattern[str] | None
    path_name: str | None = None
    """The route placeholder that carries it, for ``in: path`` (``sync-id`` for ``sync_id``)."""
    whole_body: bool = False
    credential: bool = False
    """A header the gateway's own authentication fills: never required, never shown to agents (D29)."""


@dataclass(frozen=True)
class Argument:
    """One consumed parameter and where its value comes from."""

    parameter: Parameter
    source: WithSource


@dataclass(frozen=True)
class UpstreamRoute:
    """The consumed side of a call: namespace (for its HTTP client), method and URL parts."""

    namespace: str
    operation: str
    method: str
    base_uri: str
    path_parts: tuple[str | Reference, ...]
    body_template: Any
    credentials: Credentials


@dataclass(frozen=True)
class CallPlan:
    exposed: Exposed
    route: UpstreamRoute
    inputs: tuple[InputSpec, ...]
    arguments: tuple[Argument, ...]
    mapper: Mapper
    binds: BindValues
    secret_forms: tuple[bytes, ...] = ()
    """The gateway's secrets as they may appear in an upstream body, raw and JSON-escaped, longest
    first: redacted from every reply before an adapter sees it (D55)."""

    @property
    def key(self) -> str:
        return f"{self.exposed.adapter}.{self.exposed.name}"

    def lookup(self, inputs: dict[str, Any]):
        """Template lookup for this call: bind variables first, then inputs (D12)."""
        binds = self.binds

        def find(reference: Reference) -> tuple[bool, Any]:
            is_bind, value = binds.lookup(reference)
            if is_bind:
                return value is not None, value
            if reference.namespace is None or reference.namespace in self.exposed.aliases:
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
    for match in PATH_PLACEHOLDER.finditer(path):
        parts.append(path[position:match.start()])
        parts.append(Reference(None, match.group(1)))
        position = match.end()
    parts.append(path[position:])
    return tuple(p for p in parts if p != "")


def _secret_forms(secrets: list[str]) -> tuple[bytes, ...]:
    forms: set[bytes] = set()
    for secret in secrets:
        if secret and len(secret) >= 4:
            forms.add(secret.encode())
            forms.add(orjson.dumps(secret)[1:-1])
    return tuple(sorted(forms, key=len, reverse=True))


def _join(base_uri: str, path: str) -> str:
    """D15: exactly one ``/`` between the base URI and the resource path."""
    return base_uri.rstrip("/") + "/" + path.lstrip("/") if path else base_uri.rstrip("/")


class PlanCompiler:
    """Compiles every exposed operation of one capability; problems become findings."""

    def __init__(self, capability: Capability, binds: BindValues, base_uris: dict[str, str]):
        self.capability = capability
        self.binds = binds
        self.base_uris = base_uris
        self.findings: list[Finding] = []
        self.other_roots = {a.namespace for a in capability.rest_adapters + capability.mcp_adapters} | {
            "rest", "tools", "mcp"}

    def compile(self, exposed: Exposed) -> CallPlan | None:
        namespace, _, name = exposed.call.partition(".")
        consumes = self.capability.consumes.get(namespace)
        operation = consumes.operations.get(name) if consumes else None
        if operation is None or consumes is None:
            known = ", ".join(sorted(f"{c.namespace}.{o}" for c in self.capability.consumes.values() for o in c.operations))
            self.findings.append(Finding.error(exposed.at + ("call",), f"call '{exposed.call}' does not resolve to a consumed "
                                               f"operation (D4); known: {known or 'none'}"))
            self._check_templates(exposed, (), ())
            return None
        route_names: tuple[str | None, ...] = ()
        if exposed.alias == "rest":
            try:
                route_names = split_template(exposed.path)[1]
            except PathTemplateError as exc:
                self.findings.append(Finding.error(exposed.at, str(exc)))
                return None
        credentials = compile_credentials(consumes.authentication, self.binds)
        arguments, inferred = self._arguments(exposed, operation, route_names, credentials)
        inputs = self._inputs(exposed, inferred, route_names, credentials)
        mapper, output_findings = compile_outputs(exposed.outputs)
        self.findings.extend(output_findings)
        self._check_templates(exposed, operation.parameters, inputs)
        base_uri = self.base_uris.get(namespace, consumes.base_uri)
        route = UpstreamRoute(namespace, operation.name, operation.method, base_uri,
                              _path_parts(_join("", operation.path)), operation.body, credentials)
        return CallPlan(exposed, route, inputs, arguments, mapper, self.binds,
                        _secret_forms(self.binds.secrets() + list(credentials.secrets)))

    def _arguments(self, exposed: Exposed, operation: ConsumedOperation, route_names: tuple[str | None, ...],
                   credentials: Credentials) -> tuple[tuple[Argument, ...], dict[str, InputSpec]]:
        """D20/D21: each ``with`` entry, in YAML order, bound to a consumed parameter."""
        arguments: list[Argument] = []
        inferred: dict[str, InputSpec] = {}
        route_by_key = {normalize_name(n): n for n in route_names if n}
        placeholders = {r.name for r in _path_parts(operation.path) if isinstance(r, Reference)}
        for key, value in exposed.with_.items():
            at = exposed.at + ("with", key)
            parameter = _find_parameter(operation, key)
            if parameter is None and key in placeholders:
                parameter = Parameter(key, "path", "string", None, True)
            if parameter is None:
                self.findings.append(Finding.warning(at, f"'{key}' names no parameter of {exposed.call}; "
                                                         "its value is not sent (D21)"))
                continue
            source = with_source(value, exposed.aliases)
            if isinstance(source, Literal) and looks_like_reference(value, self.other_roots - set(exposed.aliases)):
                self.findings.append(Finding.warning(at, f"'{value}' looks like a reference but its root is not this "
                                                         f"adapter's ({', '.join(exposed.aliases)}); it is sent as literal "
                                                         "text (D20)"))
            arguments.append(Argument(parameter, source))
            if isinstance(source, InputReference):
                inferred[source.name] = self._inferred_input(source.name, parameter, route_by_key, credentials)
        for parameter in operation.parameters:
            if parameter.value is not None and not any(a.parameter.name == parameter.name for a in arguments):
                arguments.append(Argument(parameter, with_source(parameter.value, ())))
        return tuple(arguments), inferred

    @staticmethod
    def _inferred_input(name: str, parameter: Parameter, route_by_key: dict[str, str],
                        credentials: Credentials) -> InputSpec:
        """D25: an input inferred from ``with``, typed by the consumed parameter it fills."""
        path_name = route_by_key.get(normalize_name(name))
        location = "path" if path_name else (parameter.location or "query")
        credential = location == "header" and parameter.name.lower() in credentials.header_names
        return InputSpec(
            name=name, location=location, type=parameter.type, description=parameter.description,
            required=(parameter.required or bool(path_name)) and not credential,
            pattern=re.compile(parameter.pattern) if parameter.pattern else None, path_name=path_name,
            whole_body=location == "body" and parameter.name == BODY_PARAMETER, credential=credential,
        )

    def _inputs(self, exposed: Exposed, inferred: dict[str, InputSpec], route_names: tuple[str | None, ...],
                credentials: Credentials) -> tuple[InputSpec, ...]:
        """Declared inputs override inferred ones; every route placeholder is an input (D25)."""
        inputs = dict(inferred)
        route_by_key = {normalize_name(n): n for n in route_names if n}
        for declared in exposed.inputs:
            try:
                pattern = re.compile(declared.pattern) if declared.pattern else None
            except re.error as exc:
                self.findings.append(Finding.error(declared.at + ("pattern",), f"invalid pattern: {exc}"))
                pattern = None
            path_name = route_by_key.get(normalize_name(declared.name))
            location = "path" if path_name else (declared.location or "query")
            credential = location == "header" and declared.name.lower() in credentials.header_names
            inputs[declared.name] = InputSpec(
                name=declared.name, location=location, type=declared.type, description=declared.description,
                required=(declared.required or bool(path_name)) and not credential, pattern=pattern,
                path_name=path_name, whole_body=location == "body" and declared.name == BODY_PARAMETER,
                credential=credential)
        known = {normalize_name(n) for n in inputs}
        for name in route_names:
            if name and normalize_name(name) not in known:
                inputs[name] = InputSpec(name=name, location="path", type="string", required=True, description=None,
                                         pattern=None, path_name=name)
        return tuple(inputs.values())

    def _check_templates(self, exposed: Exposed, parameters: tuple[Parameter, ...], inputs: tuple[InputSpec, ...]) -> None:
        """D4: every ``{{X}}`` in a ``with`` value names a bind variable or an input in scope."""
        scope = {spec.name for spec in inputs} | {p.name for p in parameters} | {p.name for p in exposed.inputs}
        for key, value in exposed.with_.items():
            if not is_template(value):
                continue
            for reference in Template.parse(value).references:
                is_bind, _ = self.binds.lookup(reference)
                in_scope = reference.name in scope and (
                    reference.namespace is None or reference.namespace in exposed.aliases)
                if not is_bind and not in_scope:
                    self.findings.append(Finding.error(exposed.at + ("with", key),
                                                       f"'{{{{{reference.text}}}}}' names neither a bind variable nor an "
                                                       "input of this operation (D4)"))
