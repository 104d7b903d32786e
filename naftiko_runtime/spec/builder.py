"""Decoded YAML -> the typed ``model``, refusing what this runtime does not implement (D3).

The shape of the document has already been checked against the runtime's model of the spec
(``schema``), whose violations are warnings. The builder reports as errors only what it cannot
act on: a missing or mistyped value it needs, or a feature the runtime does not implement yet,
named with its line so that the author knows exactly which construct to change.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from ..settings import CachePolicy, token_url_problem
from . import plugged
from .composition import (
    index_aggregates,
    keyed_items,
    referenced,
    scripting_defaults,
    semantic_hints,
    step,
    step_mapping,
)
from .diagnostics import DocPath, Finding
from .expressions import PLACEHOLDER
from .extensions import (
    CACHE,
    CACHE_FIELDS,
    CACHE_INSTEAD,
    CLIENT_AUTHENTICATIONS,
    CLIENT_CREDENTIALS_FIELDS,
    EXTENSION_ADAPTER_INSTEAD,
    EXTENSION_ADAPTER_PREFIX,
    ICONS,
    ICONS_INSTEAD,
    MCP_CONSUMES,
    MCP_CONSUMES_INSTEAD,
    OAUTH2_CLIENT_CREDENTIALS,
    OAUTH2_CLIENT_CREDENTIALS_INSTEAD,
    not_official,
)
from .imports import is_import
from .model import (
    Authentication,
    Bind,
    Capability,
    ClientCredentials,
    ConsumedOperation,
    Consumes,
    Exposed,
    ExposedAdapter,
    OAuth2,
    OutputParameter,
    Parameter,
)
from .pagination import consumed_pagination, exposed_pages
from .shape_kinds import ADAPTERS

NOT_YET = "is not implemented by this runtime yet"
UNIMPLEMENTED_ADAPTER_KEYS = {"maxBinarySize": "'maxBinarySize' (binary responses)"}
"""Keys of the beta4 dialect that change what an adapter does, refused by name (D72)."""


FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""RFC 9110 5.1 (and RFC 6265 for cookies): a header or cookie name is a token; any other name
could not be sent or matched, so it is refused at load, not at the first request."""
BINARY_SIZE = re.compile(r"(\d+(?:\.\d+)?)(B|KiB|MiB|GiB)")
BINARY_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}


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
        self.functions: dict[str, tuple[dict[str, Any], DocPath]] = {}
        self.scripting: dict[str, Any] = {}
        """The control adapter's scripting governance, for the file's script steps (issue 20)."""
        """``capability.aggregates[].functions[]`` by ``<aggregate-namespace>.<name>``, for ``ref``."""
        self.info: dict[str, Any] = {}
        """The file's ``info``, read before the adapters: what a kind may take from it (MCP icons)."""

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
        if value.__class__ is str:  # nearly every call (~500 a Polytomic file): no more checks
            return value
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
        version = data.get("naftiko", data.get("ikanos"))
        if version is None:
            # An unknown version is the dialect's shape check's to report: a warning for naftiko (D2),
            # an error for ikanos (D72).
            self.error((), "missing required field 'naftiko' or 'ikanos' (the specification version)")
        info = self.info = self.mapping(data.get("info"), ("info",), "'info'")
        if ICONS in info:  # read by the MCP kind, warned about here: a file without MCP is refused too
            self.warning(("info", ICONS), not_official(ICONS, ICONS_INSTEAD))
        standalone = "capability" not in data
        capability = self.mapping(data.get("capability"), ("capability",), "'capability'")
        self.scripting = scripting_defaults(capability, data if "exposes" in root_sections else {})
        index_aggregates(self, capability)
        if "aggregates" in root_sections:
            index_aggregates(self, data, ())
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
            label=info.get("display") or info.get("title"),
            description=info.get("description"),
            binds=tuple(b for b in binds if b),
            consumes=consumes,
            # The adapters of a shared exposes file are checked here, served only where imported.
            adapters=() if standalone else tuple(a for a in adapters if a is not None),
            info_version=str(info["version"]) if info.get("version") is not None else None,
        )

    def items(self, node: dict[str, Any], key: str, at: DocPath) -> list[tuple[Any, DocPath]]:
        """A list's items (``consumes``, ``exposes``, ``mappings``...: lists in every dialect)."""
        return [(item, at + (key, i)) for i, item in enumerate(self.sequence(node.get(key), at + (key,), f"'{key}'"))]

    def entries(self, node: dict[str, Any], key: str, at: DocPath) -> list[tuple[str | None, Any, DocPath]]:
        """``(name, entry, path)`` of a map keyed by name, the native form of named entries
        (``dialects.translate_up`` made it from an alpha2 list). An alpha2 list it could not key
        (a name missing or repeated, D125) is read as written: its name is then None, and
        ``entry_name`` reads the entry's own ``name``."""
        value = node.get(key)
        if isinstance(value, dict):
            return [(str(name), item, at + (key, name)) for name, item in value.items()]
        return [(None, item, item_at) for item, item_at in self.items(node, key, at)]

    def entry_name(self, name: str | None, node: dict[str, Any], at: DocPath, *, required: bool = True) -> str | None:
        """An entry's name: its key, or the ``name`` written in an entry of a list (D125)."""
        return name if name is not None else self.text(node, "name", at, required=required)

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
        if kind == MCP_CONSUMES:
            return self.mcp_consumes(node, at)
        if kind != "http":
            self.error(at + ("type",), f"unknown consumes type '{kind}': 'http' or 'mcp' (an extension)")
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
        for _, resource, r_at in self.entries(node, "resources", at):
            resource = self.mapping(resource, r_at, "a resource")
            path = self.text(resource, "path", r_at, required=True) or ""
            resource_params = self.parameters(resource, r_at, consumed=True)
            for op_name, op, o_at in self.entries(resource, "operations", r_at):
                operation = self.consumed_operation(op_name, op, o_at, namespace, path, shared + resource_params)
                if operation is None:
                    continue
                if operation.name in operations:
                    self.error(
                        o_at + ("name",),
                        f"duplicate operation name '{operation.name}' in consumes '{namespace}': "
                        "a call to it would be ambiguous (D4)",
                    )
                operations[operation.name] = operation
        grant = self.client_credentials(node, at)
        if grant is not None and auth is not None:
            self.error(
                grant.at,
                f"'{OAUTH2_CLIENT_CREDENTIALS}' and 'authentication' both set the upstream's Authorization "
                f"in consumes '{namespace}': keep one",
            )
        return Consumes(namespace, base_uri, auth, operations, at, shared, grant)

    def mcp_consumes(self, node: dict[str, Any], at: DocPath) -> Consumes | None:
        """D113: an upstream MCP server; its tools are called by name, so it declares no operations."""
        self.warning(at + ("type",), not_official("type: mcp", MCP_CONSUMES_INSTEAD))
        namespace = self.text(node, "namespace", at, required=True)
        base_uri = self.text(node, "baseUri", at, required=True)
        auth = self.authentication(node.get("authentication"), at + ("authentication",), exposed=False)
        if namespace is None or base_uri is None:
            return None
        return Consumes(namespace, base_uri, auth, {}, at, kind=MCP_CONSUMES)

    def client_credentials(self, node: dict[str, Any], at: DocPath) -> ClientCredentials | None:
        """The runtime extension ``x-naftiko-oauth2-client-credentials``: always warned about (it is
        not in the official schema, so ``--strict`` refuses it), each field checked where it is."""
        if OAUTH2_CLIENT_CREDENTIALS not in node:
            return None
        at = at + (OAUTH2_CLIENT_CREDENTIALS,)
        self.warning(at, not_official(OAUTH2_CLIENT_CREDENTIALS, OAUTH2_CLIENT_CREDENTIALS_INSTEAD))
        node = self.mapping(node[OAUTH2_CLIENT_CREDENTIALS], at, f"'{OAUTH2_CLIENT_CREDENTIALS}'")
        for key in node:
            if key not in CLIENT_CREDENTIALS_FIELDS:
                self.error(
                    at + (str(key),),
                    f"unknown key '{key}' in '{OAUTH2_CLIENT_CREDENTIALS}'; "
                    f"allowed: {', '.join(CLIENT_CREDENTIALS_FIELDS)}",
                )
        token_url = self.text(node, "tokenUrl", at, required=True)
        client_id = self.text(node, "clientId", at, required=True)
        client_secret = self.text(node, "clientSecret", at, required=True)
        method = self.text(node, "clientAuthentication", at) or "basic"
        if method not in CLIENT_AUTHENTICATIONS:
            self.error(
                at + ("clientAuthentication",),
                f"clientAuthentication must be one of {', '.join(CLIENT_AUTHENTICATIONS)}, got '{method}'",
            )
        if token_url is not None and (why := token_url_problem(token_url)):
            self.error(at + ("tokenUrl",), f"tokenUrl '{token_url}' {why}")
        if not (token_url and client_id and client_secret):
            return None
        scope, audience = self.text(node, "scope", at), self.text(node, "audience", at)
        return ClientCredentials(token_url, client_id, client_secret, scope, audience, method, at)

    def consumed_operation(
        self, name: str | None, node: Any, at: DocPath, namespace: str, path: str, inherited: tuple[Parameter, ...]
    ) -> ConsumedOperation | None:
        node = self.mapping(node, at, "an operation")
        name = self.entry_name(name, node, at)
        method = (self.text(node, "method", at) or "GET").upper()
        raw_format = self.text(node, "outputRawFormat", at) or "json"
        body = node.get("body")
        if not name:
            return None
        merged = {p.name: p for p in inherited}
        merged.update((p.name, p) for p in self.parameters(node, at, consumed=True))
        return ConsumedOperation(
            namespace,
            name,
            method,
            path,
            tuple(merged.values()),
            body,
            raw_format,
            at,
            output_schema=self.text(node, "outputSchema", at),
            output_media_type=self.text(node, "outputMediaType", at),
            max_binary_size=self.binary_size(node, at),
            # A list (alpha2) or a map keyed by name (beta4): each entry carries its name either way.
            outputs=tuple(
                o for o in (self.output(i, o_at) for i, o_at in keyed_items(self, node, "outputParameters", at)) if o
            ),
            cache=self.cache_rule(node, at, method),
            pagination=consumed_pagination(self, node, at),
        )

    def cache_rule(self, node: dict[str, Any], at: DocPath, method: str) -> CachePolicy | None:
        """The runtime extension ``x-naftiko-cache`` on a consumed operation (D123): always warned
        about, so that ``--strict`` refuses it; each field checked where it is."""
        if CACHE not in node:
            return None
        at = at + (CACHE,)
        self.warning(at, not_official(CACHE, CACHE_INSTEAD))
        rule = self.mapping(node[CACHE], at, f"'{CACHE}'")
        if method != "GET":
            self.error(at, f"'{CACHE}' on a {method} operation: only GET answers are cached")
        enabled, ttl, vary = rule.get("enabled", True), rule.get("ttl"), rule.get("vary", [])
        problems = {
            "enabled": not isinstance(enabled, bool) and "must be true or false",
            "ttl": ttl is not None
            and (isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0)
            and "must be a positive number of seconds",
            "vary": not (isinstance(vary, list) and all(isinstance(v, str) and v for v in vary))
            and "must be a list of header names",
        }
        for key in rule:
            if key not in CACHE_FIELDS:
                self.error(at + (str(key),), f"unknown key '{key}' in '{CACHE}'; allowed: {', '.join(CACHE_FIELDS)}")
            elif problems[key]:
                self.error(at + (str(key),), f"'{CACHE}' {key} {problems[key]}, not {rule[key]!r}")
        if any(problems.values()):
            return None
        return CachePolicy(enabled, None if ttl is None else float(ttl), tuple(v.lower() for v in vary))

    def binary_size(self, node: dict[str, Any], at: DocPath) -> int | None:
        """beta4 ``maxBinarySize``: a number with a mandatory unit (``512KiB``, ``5MiB``)."""
        text = self.text(node, "maxBinarySize", at)
        if text is None:
            return None
        match = BINARY_SIZE.fullmatch(text.strip())
        if match is None:
            self.error(at + ("maxBinarySize",), f"maxBinarySize '{text}' is not a size such as 512KiB, 5MiB or 1GiB")
            return None
        return int(float(match.group(1)) * BINARY_UNITS[match.group(2)])

    def response_media_type(self, node: dict[str, Any], at: DocPath) -> str | None:
        """beta4 ``responseBinary`` or a 2xx ``responses`` entry whose content is ``binary: true``."""
        shorthand = node.get("responseBinary")
        if isinstance(shorthand, dict):
            return self.text(shorthand, "mediaType", at + ("responseBinary",))
        responses = node.get("responses")
        if isinstance(responses, dict):
            for status, response in responses.items():
                content = response.get("content") if isinstance(response, dict) else None
                if str(status).startswith("2") and isinstance(content, dict):
                    for media_type, entry in content.items():
                        if isinstance(entry, dict) and entry.get("binary") is True:
                            return str(media_type)
        return None

    def parameters(
        self, node: dict[str, Any], at: DocPath, *, consumed: bool, tool: bool = False
    ) -> tuple[Parameter, ...]:
        built = []
        for key, item, p_at in self.entries(node, "inputParameters", at):
            item = self.mapping(item, p_at, "a parameter")
            name = self.entry_name(key, item, p_at)
            if not name:
                continue
            location = self.text(item, "in", p_at, required=not tool)
            if location in ("header", "cookie"):
                self.field_name(name, p_at + ("name",), f"{location} parameter")
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

    def field_name(self, name: str, at: DocPath, what: str) -> None:
        if not FIELD_NAME.fullmatch(name):
            self.error(
                at,
                f"{what} name {name!r} is not an HTTP field name (RFC 9110 5.1: letters, digits, !#$%&'*+-.^_`|~)",
            )

    def authentication(self, node: Any, at: DocPath, *, exposed: bool) -> Authentication | None:
        if node is None:
            return None
        node = self.mapping(node, at, "'authentication'")
        kind = node.get("type")
        if kind == "oauth2" and not exposed:
            self.error(at + ("type",), f"'oauth2' authentication to a consumed API {NOT_YET}")
            return None
        # What a gateway checks and what it sends are registered apart (issue 19).
        allowed = plugged.EXPOSED_AUTH if exposed else plugged.CONSUMED_AUTH
        if not isinstance(kind, str) or kind not in allowed:
            side = "an exposed adapter" if exposed else "a consumed API"
            self.error(
                at + ("type",),
                f"unknown authentication type '{kind}' for {side}; expected one of {', '.join(allowed)}",
            )
            return None
        if kind == "oauth2":
            return Authentication(kind, oauth2=self.oauth2(node, at), at=at)
        given = tuple(
            (str(k), str(v))
            for k, v in node.items()
            if k != "type" and isinstance(v, str | int) and not isinstance(v, bool)
        )
        fields = {k: self.text(node, k, at) for k in ("username", "password", "token", "key", "value", "placement")}
        for key in allowed[kind]:
            if dict(given).get(key) is None:
                # The schema lets the secret be left out: like an unset one, the block counts as absent (D13, D33).
                self.warning(
                    at, f"{kind} authentication without '{key}' counts as absent: the caller's credentials pass (D33)"
                )
        placement = fields.pop("placement") or "header"
        if placement not in ("header", "query"):
            self.error(at + ("placement",), f"apikey placement must be 'header' or 'query', got '{placement}'")
        elif placement == "header" and fields["key"] is not None and PLACEHOLDER.search(fields["key"]) is None:
            self.field_name(fields["key"], at + ("key",), "apikey header")
        user, password, token, name, value = (fields[k] for k in ("username", "password", "token", "key", "value"))
        return Authentication(kind, user, password, token, name, value, placement, fields=given, at=at)

    def oauth2(self, node: dict[str, Any], at: DocPath) -> OAuth2:
        """An exposed resource server: whose tokens (issuer), for whom (audience), with what scopes."""
        issuer = self.text(node, "authorizationServerUri", at, required=True) or ""
        resource, audience = self.text(node, "resource", at), self.text(node, "audience", at)
        if resource is None and audience is None:
            self.error(at, "oauth2 authentication needs 'resource' (or 'audience') to check a token's audience")
        validation = self.text(node, "tokenValidation", at) or "jwks"
        if validation not in ("jwks", "introspection"):
            self.error(
                at + ("tokenValidation",), f"oauth2 tokenValidation must be jwks or introspection, got '{validation}'"
            )
        scopes = tuple(str(s) for s in self.sequence(node.get("scopes"), at + ("scopes",), "'scopes'"))
        return OAuth2(issuer, resource, audience, scopes, validation)

    # -- exposed side ---------------------------------------------------------------------

    def adapter(self, node: Any, at: DocPath) -> ExposedAdapter | None:
        if is_import(node):
            return None  # an import the composer could not resolve; it said why (D71)
        node = self.mapping(node, at, "an exposes entry")
        kind = node.get("type")
        parse = self.adapter_parsers.get(kind) if isinstance(kind, str) else None
        if parse is None:
            if isinstance(kind, str) and kind in ADAPTERS.fragments:  # a kind the spec knows (its shape)
                self.error(at + ("type",), f"the '{kind}' adapter {NOT_YET}")
            else:
                self.error(
                    at + ("type",) if "type" in node else at,
                    f"unknown adapter type '{kind}': expected {' or '.join(sorted(self.adapter_parsers))}",
                )
            return None
        if kind.startswith(EXTENSION_ADAPTER_PREFIX):
            self.warning(at + ("type",), not_official(kind, EXTENSION_ADAPTER_INSTEAD))
        auth = self.authentication(node.get("authentication"), at + ("authentication",), exposed=True)
        for key, feature in UNIMPLEMENTED_ADAPTER_KEYS.items():
            self.refuse(node, key, at, feature)
        adapter = parse(self, node, at)
        return replace(adapter, authentication=auth) if adapter is not None and auth is not None else adapter

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
        """What every exposed operation has, whatever adapter exposes it: one of the three modes
        (simple ``call``, orchestrated ``steps``, mock), possibly inherited by ``ref``, with inputs
        and outputs."""
        semantics: dict[str, bool] = {}
        own = node
        if "ref" in node:
            function = referenced(self, node, at, kind=kind, method=method)
            if function is None:
                return None
            inherited_node, function_at, semantics = function
            # The engine resolves `<aggregate namespace>.<input>` in the function's `with` (issue 23).
            reference_roots = (*reference_roots, str(node["ref"]).rpartition(".")[0])
            # Fields set on the adapter override the function's (spec: Aggregates).
            node = {**inherited_node, **{k: v for k, v in node.items() if k != "ref"}}
            if not any(k in own for k in ("call", "steps", "with", "mappings", "outputParameters")):
                at = function_at
        call = self.text(node, "call", at)
        built_steps = [step(self, item, s_at) for item, s_at in keyed_items(self, node, "steps", at)]
        if None in built_steps:
            return None  # each failed step is reported; mappings reading it would only repeat that
        steps = tuple(s for s in built_steps if s is not None)
        mappings = tuple(m for m in (step_mapping(self, i, m_at) for i, m_at in self.items(node, "mappings", at)) if m)
        with_ = self.mapping(node.get("with"), at + ("with",), "'with'")
        inputs = {p.name: p for p in inherited}
        # A function's inputs have no `in`, like a tool's, whichever adapter inherits them.
        inherits_inputs = "ref" in own and "inputParameters" not in own
        inputs.update((p.name, p) for p in self.parameters(node, at, consumed=False, tool=tool or inherits_inputs))
        outputs = tuple(
            o for o in (self.output(item, o_at) for item, o_at in keyed_items(self, node, "outputParameters", at)) if o
        )
        hints = semantic_hints(semantics)
        hints.update(self.mapping(own.get("hints"), at + ("hints",), "'hints'"))
        return Exposed(
            namespace=namespace,
            adapter_kind=kind,
            key=key,
            name=name,
            call=call,
            with_=dict(with_),
            inputs=tuple(inputs.values()),
            outputs=outputs,
            steps=steps,
            mappings=mappings,
            reference_roots=reference_roots,
            path_parameters=path_parameters,
            description=self.text(own, "description", at) or self.text(node, "description", at),
            label=self.text(node, "display", at),
            method=method,
            path=path,
            hints={k: v for k, v in hints.items() if isinstance(v, bool)},
            at=at,
            response_media_type=self.response_media_type(node, at),
            max_pages=exposed_pages(self, own, at),
        )

    def ref_name(self, node: dict[str, Any]) -> str | None:
        """The name of the function a ``ref`` names, when it resolves (a tool may inherit it)."""
        found = self.functions.get(str(node.get("ref")))
        name = found[0].get("name") if found else None
        return name if isinstance(name, str) else None

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
        items_node = node.get("items")
        if (
            isinstance(items_node, dict)
            and items_node
            and not isinstance(items_node.get("type"), str)
            and all(isinstance(field, dict) for field in items_node.values())
        ):
            # beta4 writes an array's items as their fields keyed by name (a field may be named 'type').
            items_node = {"type": "object", "properties": items_node}
        items: OutputParameter | None = None
        if isinstance(items_node, list):
            items = self.named_fields(items_node, at + ("items",))
        elif "items" in node:
            items = self.output(items_node, at + ("items",))
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

    def named_fields(self, fields: list[Any], at: DocPath) -> OutputParameter:
        """alpha2 ``items: [{name, type}, ...]``: each element an object of those named fields, as
        beta4 writes ``items: {name: {type}}`` (issue 19, item 4)."""
        properties = {}
        for index, field in enumerate(fields):
            built = self.output(field, at + (index,))
            if built is not None and built.name is None:
                self.error(at + (index,), "missing required field 'name' (a field of the array's items)")
            elif built is not None:
                properties[str(built.name)] = built
        return OutputParameter("object", None, None, None, None, properties, None, at)
