"""The consumed side of a capability's plans: one ``UpstreamCall`` per consumed operation (method,
URL template, body template, decoder, credentials, secrets), compiled once per capability however
many exposed operations call it, with its problems reported at the consumed operation's own line.

Credentials are chosen here (D33, D91): a client credentials grant of the runtime configuration,
else the file's extension key, else its ``authentication``; the base URI comes from
``--base-uri``, else from the file with its bind variables rendered (D4).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from ..settings import ClientCredentialsPolicy
from ..spec.binds import BindValues
from ..spec.diagnostics import Finding
from ..spec.expressions import PLACEHOLDER, Reference, Template
from ..spec.model import Capability, ClientCredentials, ConsumedOperation, Consumes
from .bodies import UnknownBodyType, compile_body
from .codecs import DECODERS, FormatSetupError
from .consumed_auth import CONSUMED_AUTH
from .credentials import NONE, Credentials, compile_configured_grant, compile_grant, render_from_binds
from .mcp_upstream import McpServer
from .plans import BinaryOutput, UpstreamCall
from .redaction import secret_forms


@functools.lru_cache(maxsize=4096)
def path_parts(path: str) -> tuple[str | Reference, ...]:
    """The path's literal text and placeholders; ``{{<step>.<field>}}`` (an earlier step's result,
    as the engine allows) and ``{{<bind namespace>.<VARIABLE>}}`` keep their namespace.

    Remembered by path (immutable parts): every operation calling a consumed operation asks for
    its path again, once to compile the call and once per exposed operation for its inputs."""
    parts: list[str | Reference] = []
    position = 0
    for match in PLACEHOLDER.finditer(path):
        parts.append(path[position : match.start()])
        namespace, _, name = match.group(1).rpartition(".")
        parts.append(Reference(namespace or None, name))
        position = match.end()
    parts.append(path[position:])
    return tuple(p for p in parts if p != "")


class ConsumedCalls:
    """The ``UpstreamCall`` of each consumed operation of one capability, compiled on first use."""

    def __init__(
        self,
        capability: Capability,
        binds: BindValues,
        base_uris: Mapping[str, str],
        findings: list[Finding],
        grants: Mapping[str, ClientCredentialsPolicy],
        environ: Mapping[str, str],
    ):
        self.capability = capability
        self.binds = binds
        self.base_uris = base_uris
        """``--base-uri`` and its environment variables, by namespace: they win over the file's."""
        self.findings = findings
        """The compiler's findings: problems land beside those of the exposed side."""
        self.grants = grants
        """Client credentials grants of the runtime configuration, by namespace (D91)."""
        self.environ = environ
        """Where a configured grant's id and secret are read, once, here at load time."""
        self._calls: dict[str, UpstreamCall | None] = {}
        self._bad_base_uris: set[str] = set()
        self._bad_mcp_credentials: set[str] = set()
        self._credentials: dict[str, Credentials] = {}

    def check_all(self) -> None:
        """Every consumed operation's request side, called or not: a format or body type this
        runtime cannot handle is refused at its own line even before an operation calls it."""
        for consumes in self.capability.consumes.values():
            if consumes.client_credentials is not None:
                self._check_grant_templates(consumes.client_credentials)
            for operation in consumes.operations.values():
                self.call(consumes, operation)

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

    def resolve(self, call: str) -> tuple[Consumes, ConsumedOperation] | None:
        namespace, _, name = call.partition(".")
        consumes = self.capability.consumes.get(namespace)
        operation = consumes.operations.get(name) if consumes else None
        return (consumes, operation) if consumes and operation else None

    def call(self, consumes: Consumes, operation: ConsumedOperation) -> UpstreamCall | None:
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
        extra = response_format.extra
        missing = extra.missing(f"outputRawFormat {response_format.format}") if extra else None
        if missing is not None:
            self.findings.append(Finding.error(operation.at + ("outputRawFormat",), missing))
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
            path_parts=path_parts("/" + operation.path.lstrip("/") if operation.path else ""),
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
            cache=operation.cache,
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
        auth = consumes.authentication
        # The builder let through only registered types (plugged.CONSUMED_AUTH).
        return CONSUMED_AUTH[auth.type].credentials(auth, self.binds) if auth is not None else NONE

    def _replaced_extension(self, consumes: Consumes) -> None:
        if consumes.client_credentials is not None:
            self.findings.append(
                Finding.warning(
                    consumes.client_credentials.at,
                    f"the runtime configuration (--config) declares a client credentials grant for "
                    f"consumes '{consumes.namespace}': it replaces this one (D91)",
                )
            )

    def mcp_server(self, consumes: Consumes) -> McpServer | None:
        """A consumed MCP server (D113): its URL (``--base-uri`` first, as for http) and credentials,
        which must be headers: the MCP client sends the same headers on every request."""
        url = self.base_uris.get(consumes.namespace) or self._base_uri(consumes)
        credentials = self._credentials_of(consumes)
        if credentials.grant is not None or credentials.challenge is not None or credentials.query:
            if consumes.namespace not in self._bad_mcp_credentials:
                self._bad_mcp_credentials.add(consumes.namespace)
                self.findings.append(
                    Finding.error(
                        consumes.at + ("authentication",),
                        f"consumes '{consumes.namespace}' (type: mcp) can present a bearer token, basic "
                        "credentials or an API key header; digest, a query API key and a client "
                        "credentials grant are not supported for an upstream MCP server yet",
                    )
                )
            return None
        return McpServer(consumes.namespace, url, credentials) if url else None

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
