"""Decoded YAML -> the typed ``model``, refusing what this runtime does not implement (D3).

The shape of the document has already been checked against the runtime's model of the spec
(``schema``), whose violations are warnings. The builder reports as errors only what it cannot
act on: a missing or mistyped value it needs, or a feature the runtime does not implement yet,
named with its line so that the author knows exactly which construct to change.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from .diagnostics import DocPath, Finding
from .imports import is_import
from .model import (
    Authentication,
    Bind,
    Capability,
    ConsumedOperation,
    Consumes,
    Exposed,
    ExposedAdapter,
    OutputParameter,
    Parameter,
)

CONSUMED_AUTH_TYPES = ("basic", "digest", "bearer", "apikey")
SPEC_ADAPTER_TYPES = ("rest", "mcp", "skill", "control")
NOT_YET = "is not implemented by this runtime yet"
UNIMPLEMENTED_ADAPTER_KEYS = {
    "maxBinarySize": "'maxBinarySize' (binary responses)",
    "ttlMs": "'ttlMs' (MCP response caching)",
    "cacheScope": "'cacheScope' (MCP response caching)",
}
"""Keys of the beta4 dialect that change what an adapter does, refused by name (D72)."""


class AdapterParser(Protocol):
    """Builds one adapter kind's model from its ``exposes`` entry; the common fields (``type``,
    ``authentication``) are already checked. Each kind supplies one (see ``adapters.registry``)."""

    def __call__(self, builder: ModelBuilder, node: dict[str, Any], at: DocPath) -> ExposedAdapter | None: ...


class ModelBuilder:
    """Builds a ``Capability``; every problem becomes a ``Finding`` rather than an exception.

    The adapter kinds are given by the caller, keyed by the spec's ``type``: the spec layer knows
    what an exposed operation is, each adapter kind knows its own fields.
    """

    def __init__(self, file: Path, adapter_parsers: Mapping[str, AdapterParser]):
        self.file = file
        self.adapter_parsers = adapter_parsers
        self.findings: list[Finding] = []

    def error(self, at: DocPath, message: str) -> None:
        self.findings.append(Finding.error(at, message))

    def warning(self, at: DocPath, message: str) -> None:
        self.findings.append(Finding.warning(at, message))

    # -- typed accessors: each reports the field it could not use ------------------------

    def mapping(self, value: Any, at: DocPath, what: str) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        if value is not None:
            self.error(at, f"{what} must be a mapping, got {type(value).__name__}")
        return {}

    def sequence(self, value: Any, at: DocPath, what: str) -> list[Any]:
        if isinstance(value, list):
            return value
        if value is not None:
            self.error(at, f"{what} must be a list, got {type(value).__name__}")
        return []

    def text(self, node: dict[str, Any], key: str, at: DocPath, *, required: bool = False) -> str | None:
        value = node.get(key)
        if value is None:
            if required:
                self.error(at, f"missing required field '{key}'")
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.error(at + (key,), f"'{key}' must be a string, got {type(value).__name__}")
            return None
        return str(value)

    def refuse(self, node: dict[str, Any], key: str, at: DocPath, feature: str) -> None:
        if key in node:
            self.error(at + (key,), f"{feature} {NOT_YET}")

    # -- document -------------------------------------------------------------------------

    def build(self, data: Any, root_sections: tuple[str, ...] = ("consumes", "binds")) -> Capability | None:
        """The capability of a normalised document (``dialects``, ``imports`` ran before); the
        dialect says which sections it reads at the root besides ``capability``."""
        if not isinstance(data, dict):
            self.error((), "a capability document must be a YAML mapping at the top level")
            return None
        version = data.get("naftiko")
        if version is None:
            # An unknown version is the dialect's shape check's to report: a warning for naftiko (D2),
            # an error for ikanos (D72).
            self.error((), "missing required field 'naftiko' or 'ikanos' (the specification version)")
        info = self.mapping(data.get("info"), ("info",), "'info'")
        standalone = "capability" not in data
        capability = self.mapping(data.get("capability"), ("capability",), "'capability'")
        self.refuse(capability, "aggregates", ("capability",), "aggregates ('aggregates', 'ref')")
        if "aggregates" in root_sections:
            self.refuse(data, "aggregates", (), "aggregates ('aggregates', 'ref')")
        binds = [self.bind(item, at) for item, at in self.items(data, "binds", ())]
        binds += [self.bind(item, at) for item, at in self.items(capability, "binds", ("capability",))]
        consumes: dict[str, Consumes] = {}
        entries = self.items(data, "consumes", ()) + self.items(capability, "consumes", ("capability",))
        for item, at in entries:
            built = self.consumes(item, at)
            if built is None:
                continue
            if built.namespace in consumes:
                self.error(at + ("namespace",), f"duplicate consumes namespace '{built.namespace}' in this file (D4)")
            consumes[built.namespace] = built
        exposes = self.items(data, "exposes", ()) if "exposes" in root_sections else []
        exposes += self.items(capability, "exposes", ("capability",))
        adapters = [self.adapter(item, at) for item, at in exposes]
        return Capability(
            file=self.file,
            version=str(version or ""),
            label=info.get("label") or info.get("title"),
            description=info.get("description"),
            binds=tuple(b for b in binds if b),
            consumes=consumes,
            # The adapters of a shared exposes file are checked here, served only where imported.
            adapters=() if standalone else tuple(a for a in adapters if a is not None),
        )

    def items(self, node: dict[str, Any], key: str, at: DocPath) -> list[tuple[Any, DocPath]]:
        return [(item, at + (key, i)) for i, item in enumerate(self.sequence(node.get(key), at + (key,), f"'{key}'"))]

    def bind(self, node: Any, at: DocPath) -> Bind | None:
        if is_import(node):
            return None  # an import the composer could not resolve; it said why (D71)
        node = self.mapping(node, at, "a bind")
        namespace = self.text(node, "namespace", at, required=True)
        keys = self.mapping(node.get("keys"), at + ("keys",), "'keys'")
        if "keys" not in node:
            self.error(at, "missing required field 'keys'")
        clean = {}
        for variable, source in keys.items():
            if isinstance(source, (str, int)) and not isinstance(source, bool):
                clean[str(variable)] = str(source)
            else:
                self.error(at + ("keys", variable), f"bind key '{variable}' must map to a source key name")
        return Bind(namespace or "", self.text(node, "location", at), clean, at) if namespace else None

    # -- consumed side --------------------------------------------------------------------

    def consumes(self, node: Any, at: DocPath) -> Consumes | None:
        if is_import(node):
            return None  # an import the composer could not resolve; it said why (D71)
        node = self.mapping(node, at, "a consumes entry")
        kind = node.get("type", "http")
        if kind != "http":
            self.error(at + ("type",), f"unknown consumes type '{kind}': only 'http' is supported")
            return None
        namespace = self.text(node, "namespace", at, required=True)
        base_uri = self.text(node, "baseUri", at, required=True)
        if not namespace or base_uri is None:
            return None
        if "{{" not in base_uri and not base_uri.startswith(("http://", "https://")):
            self.error(at + ("baseUri",), f"baseUri '{base_uri}' must be an http:// or https:// URL (D4)")
        self.refuse(node, "tunnel", at, "'tunnel' (reaching the API through a reverse tunnel)")
        auth = self.authentication(node.get("authentication"), at + ("authentication",), exposed=False)
        shared = self.parameters(node, at, consumed=True)
        operations: dict[str, ConsumedOperation] = {}
        for resource, r_at in self.items(node, "resources", at):
            resource = self.mapping(resource, r_at, "a resource")
            path = self.text(resource, "path", r_at, required=True) or ""
            resource_params = self.parameters(resource, r_at, consumed=True)
            for op, o_at in self.items(resource, "operations", r_at):
                operation = self.consumed_operation(op, o_at, namespace, path, shared + resource_params)
                if operation is None:
                    continue
                if operation.name in operations:
                    self.error(
                        o_at + ("name",), f"duplicate operation name '{operation.name}' in consumes '{namespace}'"
                    )
                operations[operation.name] = operation
        return Consumes(namespace, base_uri, auth, operations, at)

    def consumed_operation(
        self, node: Any, at: DocPath, namespace: str, path: str, inherited: tuple[Parameter, ...]
    ) -> ConsumedOperation | None:
        node = self.mapping(node, at, "an operation")
        self.refuse(node, "outputMediaType", at, "'outputMediaType' (advertising another media type)")
        self.refuse(node, "maxBinarySize", at, "'maxBinarySize' (binary responses)")
        name = self.text(node, "name", at, required=True)
        method = (self.text(node, "method", at) or "GET").upper()
        raw_format = self.text(node, "outputRawFormat", at) or "json"
        body = node.get("body")
        if not name:
            return None
        merged = {p.name: p for p in inherited}
        merged.update((p.name, p) for p in self.parameters(node, at, consumed=True))
        return ConsumedOperation(namespace, name, method, path, tuple(merged.values()), body, raw_format, at)

    def parameters(
        self, node: dict[str, Any], at: DocPath, *, consumed: bool, tool: bool = False
    ) -> tuple[Parameter, ...]:
        built = []
        for item, p_at in self.items(node, "inputParameters", at):
            item = self.mapping(item, p_at, "a parameter")
            name = self.text(item, "name", p_at, required=True)
            if not name:
                continue
            location = self.text(item, "in", p_at, required=not tool)
            required = item.get("required")
            if not isinstance(required, bool):
                # D26: published consumed parameters without `required` are optional; declared
                # MCP tool inputs keep the spec's default of true; a REST path input always is.
                required = tool or location == "path"
            built.append(
                Parameter(
                    name,
                    location,
                    self.text(item, "type", p_at),
                    self.text(item, "description", p_at),
                    required,
                    self.text(item, "value", p_at),
                    self.text(item, "pattern", p_at),
                    p_at,
                )
            )
        return tuple(built)

    def authentication(self, node: Any, at: DocPath, *, exposed: bool) -> Authentication | None:
        if node is None:
            return None
        if exposed:
            self.error(at, f"exposed authentication {NOT_YET}")
            return None
        node = self.mapping(node, at, "'authentication'")
        kind = node.get("type")
        if kind == "oauth2":
            self.error(at + ("type",), f"'oauth2' authentication to a consumed API {NOT_YET}")
            return None
        if kind not in CONSUMED_AUTH_TYPES:
            self.error(
                at + ("type",),
                f"unknown authentication type '{kind}' for a consumed API; "
                f"expected one of {', '.join(CONSUMED_AUTH_TYPES)}",
            )
            return None
        fields = {k: self.text(node, k, at) for k in ("username", "password", "token", "key", "value", "placement")}
        needed = {
            "basic": ("username", "password"),
            "digest": ("username", "password"),
            "bearer": ("token",),
            "apikey": ("key", "value"),
        }[kind]
        for key in needed:
            if fields[key] is None:
                # The schema lets the secret be left out: like an unset one, the block counts as absent (D13, D33).
                self.warning(
                    at, f"{kind} authentication without '{key}' counts as absent: the caller's credentials pass (D33)"
                )
        placement = fields.pop("placement") or "header"
        if placement not in ("header", "query"):
            self.error(at + ("placement",), f"apikey placement must be 'header' or 'query', got '{placement}'")
        return Authentication(kind, placement=placement, at=at, **fields)

    # -- exposed side ---------------------------------------------------------------------

    def adapter(self, node: Any, at: DocPath) -> ExposedAdapter | None:
        if is_import(node):
            return None  # an import the composer could not resolve; it said why (D71)
        node = self.mapping(node, at, "an exposes entry")
        kind = node.get("type")
        parse = self.adapter_parsers.get(kind) if isinstance(kind, str) else None
        if parse is None:
            if kind in SPEC_ADAPTER_TYPES:
                self.error(at + ("type",), f"the '{kind}' adapter {NOT_YET}")
            else:
                self.error(
                    at + ("type",) if "type" in node else at,
                    f"unknown adapter type '{kind}': expected {' or '.join(sorted(self.adapter_parsers))}",
                )
            return None
        self.authentication(node.get("authentication"), at + ("authentication",), exposed=True)
        for key, feature in UNIMPLEMENTED_ADAPTER_KEYS.items():
            self.refuse(node, key, at, feature)
        return parse(self, node, at)

    def port(self, node: dict[str, Any], at: DocPath) -> int | None:
        """The adapter's ``port``, or ``None`` (reported) when it is not a valid TCP port."""
        port = node.get("port")
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            self.error(
                at + ("port",) if "port" in node else at, f"'port' must be an integer between 1 and 65535, got {port!r}"
            )
            return None
        return port

    def exposed(
        self,
        node: dict[str, Any],
        at: DocPath,
        *,
        namespace: str,
        kind: str,
        key: str,
        name: str,
        reference_roots: tuple[str, ...],
        inherited: tuple[Parameter, ...] = (),
        tool: bool = False,
        method: str = "GET",
        path: str = "",
        path_parameters: tuple[str, ...] = (),
    ) -> Exposed | None:
        """What every exposed operation has, whatever adapter exposes it: call, with, inputs, outputs."""
        if "steps" in node:
            self.error(at + ("steps",), f"orchestrated mode ('steps') {NOT_YET}")
            return None
        if "ref" in node:
            self.error(at + ("ref",), f"aggregate functions ('ref') {NOT_YET}")
            return None
        call = self.text(node, "call", at)
        if call is None:
            self.error(at, f"mock mode (no 'call') {NOT_YET}")
            return None
        self.refuse(node, "mappings", at, "step output 'mappings' (orchestrated mode)")
        for response in ("responses", "responseBinary"):
            self.refuse(node, response, at, f"'{response}' (declared response formats)")
        if isinstance(node.get("outputParameters"), dict):
            self.error(
                at + ("outputParameters",),
                f"outputParameters keyed by name (orchestrated or mock outputs) with a 'call' {NOT_YET}; "
                "a 'call' maps its answer with a list of outputs",
            )
            return None
        with_ = self.mapping(node.get("with"), at + ("with",), "'with'")
        inputs = {p.name: p for p in inherited}
        inputs.update((p.name, p) for p in self.parameters(node, at, consumed=False, tool=tool))
        outputs = tuple(
            o for o in (self.output(item, o_at) for item, o_at in self.items(node, "outputParameters", at)) if o
        )
        hints = self.mapping(node.get("hints"), at + ("hints",), "'hints'")
        return Exposed(
            namespace=namespace,
            adapter_kind=kind,
            key=key,
            name=name,
            call=call,
            with_=dict(with_),
            inputs=tuple(inputs.values()),
            outputs=outputs,
            reference_roots=reference_roots,
            path_parameters=path_parameters,
            description=self.text(node, "description", at),
            label=self.text(node, "label", at),
            method=method,
            path=path,
            hints={k: v for k, v in hints.items() if isinstance(v, bool)},
            at=at,
        )

    def output(self, node: Any, at: DocPath) -> OutputParameter | None:
        node = self.mapping(node, at, "an output parameter")
        kind = self.text(node, "type", at) or "object"
        mapping_field = node.get("mapping")
        properties_node = node.get("properties")
        if isinstance(mapping_field, dict):
            # The specification's examples nest `properties` under `mapping:` (D42).
            properties_node = mapping_field.get("properties", properties_node)
            mapping_field = mapping_field.get("value")
        properties = None
        if properties_node is not None:
            props = self.mapping(properties_node, at + ("properties",), "'properties'")
            properties = {
                str(k): o for k, o in ((k, self.output(v, at + ("properties", k))) for k, v in props.items()) if o
            }
        items = self.output(node["items"], at + ("items",)) if "items" in node else None
        if mapping_field is not None and not isinstance(mapping_field, str):
            self.error(at + ("mapping",), "'mapping' must be a JSONPath string")
            mapping_field = None
        return OutputParameter(
            kind,
            self.text(node, "name", at),
            mapping_field,
            self.text(node, "value", at),
            node.get("const"),
            properties,
            items,
            at,
        )
