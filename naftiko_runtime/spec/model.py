"""The typed model of a loaded capability document.

Only what the runtime acts on is modelled; each object keeps ``at``, its path in the source
document, so that later stages (plans, conflicts between files) can still point at a line.
Values are already validated by the loader: code past this point never re-checks YAML types.
"""

from __future__ import annotations

from dataclasses import field, replace
from pathlib import Path
from typing import Any, Protocol

from ..records import dataclass
from ..settings import CachePolicy
from .diagnostics import DocPath


@dataclass(frozen=True)
class Bind:
    """``binds[]``: variables taken from the environment or from a JSON/YAML file (D10)."""

    namespace: str
    location: str | None
    keys: dict[str, str]
    at: DocPath


@dataclass(frozen=True)
class Authentication:
    """An ``authentication`` block; secret-bearing fields are still templates (``{{X}}``)."""

    type: str
    username: str | None = None
    password: str | None = None
    token: str | None = None
    key: str | None = None
    value: str | None = None
    placement: str = "header"
    oauth2: OAuth2 | None = None
    """Only for ``type: oauth2``, which only an exposed adapter may declare."""
    fields: tuple[tuple[str, str], ...] = ()
    """Every text field of the block as written (templates): what a registered type reads."""
    at: DocPath = ()

    def field(self, name: str) -> str | None:
        return dict(self.fields).get(name)

    @property
    def policy(self) -> Authentication:
        """The block without its position: two adapters sharing a port compare by this."""
        return replace(self, at=())


@dataclass(frozen=True)
class OAuth2:
    """An exposed ``oauth2`` block: this adapter is an OAuth 2.1 resource server."""

    authorization_server: str
    resource: str | None
    audience: str | None
    scopes: tuple[str, ...] = ()
    token_validation: str = "jwks"


@dataclass(frozen=True)
class ClientCredentials:
    """``x-naftiko-oauth2-client-credentials`` on a consumed entry (a runtime extension): the
    upstream's bearer token comes from ``token_url``; the client's id and secret are still
    templates (``{{X}}``), rendered from binds when the plan is compiled."""

    token_url: str
    client_id: str
    client_secret: str
    scope: str | None = None
    audience: str | None = None
    client_authentication: str = "basic"
    at: DocPath = ()


@dataclass(frozen=True)
class Parameter:
    """An input parameter, consumed or exposed; ``location`` is the spec's ``in``."""

    name: str
    location: str | None
    type: str | None = None
    description: str | None = None
    required: bool = False
    value: str | None = None
    pattern: str | None = None
    at: DocPath = ()


@dataclass(frozen=True)
class Pagination:
    """``x-naftiko-pagination`` on a consumed list operation (``spec.pagination``, D121);
    parameter names are the upstream's query parameters."""

    style: str
    items: str = "$"
    cursor: str | None = None
    parameter: str | None = None
    """cursor: the cursor's parameter; offset: the offset's; page: the page number's."""
    limit_parameter: str = "limit"
    limit: int = 50
    first_page: int = 1
    at: DocPath = ()


@dataclass(frozen=True)
class ConsumedOperation:
    """One callable upstream operation: ``<namespace>.<name>`` in a ``call``."""

    namespace: str
    name: str
    method: str
    path: str
    parameters: tuple[Parameter, ...]
    """Consumes-, resource- and operation-level parameters merged, the later overriding."""
    body: Any = None
    output_raw_format: str = "json"
    at: DocPath = ()
    output_schema: str | None = None
    """``outputSchema``: a CSS selector (html), a heading prefix (markdown), a schema file (avro,
    protobuf; relative to the capability file)."""
    output_media_type: str | None = None
    """beta4 ``outputMediaType``: the media type callers are told, whatever the upstream says."""
    max_binary_size: int | None = None
    """beta4 ``maxBinarySize`` in bytes, for ``outputRawFormat: binary`` (else the serve-time limit)."""
    outputs: tuple[OutputParameter, ...] = ()
    """``outputParameters`` (``name`` + ``value``, a JSONPath): what an orchestrated step's result
    carries (D45); simple mode maps the raw response instead."""
    cache: CachePolicy | None = None
    """``x-naftiko-cache`` (a runtime extension): the operation's rule in the shared cache (D123)."""
    pagination: Pagination | None = None
    """``x-naftiko-pagination`` (a runtime extension, D121): how the list pages."""


@dataclass(frozen=True)
class Consumes:
    namespace: str
    base_uri: str
    authentication: Authentication | None
    operations: dict[str, ConsumedOperation]
    at: DocPath = ()
    parameters: tuple[Parameter, ...] = ()
    """Consumes-level parameters (already merged into each operation): a ``forward`` sends
    their ``value``s, which carry the gateway's own headers and keys (D82)."""
    client_credentials: ClientCredentials | None = None
    """The runtime extension ``x-naftiko-oauth2-client-credentials``; never with ``authentication``."""
    kind: str = "http"
    """``mcp`` (a runtime extension, D113): ``baseUri`` is an MCP server's Streamable HTTP endpoint."""


@dataclass(frozen=True)
class OutputParameter:
    """A mapped output (``type`` + ``mapping`` JSONPath, or a static ``value``), recursive."""

    type: str
    name: str | None = None
    mapping: str | None = None
    value: str | None = None
    const: Any = None
    properties: dict[str, OutputParameter] | None = None
    items: OutputParameter | None = None
    at: DocPath = ()


class StepSpec(Protocol):
    """One ``steps[]`` entry in the model, as the step kind its ``type`` names reads it
    (``core.stepkinds``; registered in ``plugged.STEP_PARSERS``)."""

    @property
    def type(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def at(self) -> DocPath: ...


@dataclass(frozen=True)
class StepMapping:
    """``mappings[]``: the output ``target`` (dot notation nests) takes the JSONPath ``value``."""

    target: str
    value: str
    at: DocPath = ()


@dataclass(frozen=True)
class ForwardSpec:
    """A REST resource's ``forward``: the rest of the path goes to ``target_namespace`` (D82)."""

    target_namespace: str
    trusted_headers: tuple[str, ...]
    at: DocPath = ()


@dataclass(frozen=True)
class Exposed:
    """A REST operation or an MCP tool: simple (``call``), orchestrated (``steps`` + ``mappings``)
    or mock (neither: the outputs' static values answer)."""

    namespace: str
    """The namespace of the adapter that exposes it."""
    adapter_kind: str
    """The spec's ``type`` of that adapter: ``rest``, ``mcp``."""
    key: str
    """Unique within its adapter: the tool name, or ``METHOD /path`` for a REST operation."""
    name: str
    call: str | None
    with_: dict[str, Any]
    inputs: tuple[Parameter, ...]
    outputs: tuple[OutputParameter, ...]
    steps: tuple[StepSpec, ...] = ()
    mappings: tuple[StepMapping, ...] = ()
    reference_roots: tuple[str, ...] = ()
    """The adapter-kind roots a ``with`` reference may start with besides the namespace (D20):
    ``rest`` in a REST adapter, ``tools`` and ``mcp`` in an MCP adapter."""
    path_parameters: tuple[str, ...] = ()
    """Placeholders of the exposed path, always inputs of the operation (D25); empty for tools."""
    description: str | None = None
    label: str | None = None
    method: str = "GET"
    path: str = ""
    hints: dict[str, bool] = field(default_factory=dict)
    at: DocPath = ()
    forward: ForwardSpec | None = None
    """Set for a REST forward; ``path`` is then the prefix whose rest is forwarded."""
    response_media_type: str | None = None
    """beta4 ``responseBinary.mediaType`` (or the media type a 2xx ``responses`` entry marks
    ``binary: true``): the Content-Type of a REST operation's binary answer."""
    max_pages: int | None = None
    """``x-naftiko-pagination: {pages: all}`` (D121): every page's items, at most this many pages."""

    @property
    def aliases(self) -> tuple[str, ...]:
        """Every root that makes a ``with`` value a reference to the caller's input (D20)."""
        return (self.namespace, *self.reference_roots)


@dataclass(frozen=True)
class ExposedAdapter:
    """One ``exposes`` entry. Each adapter kind subclasses it with what only it needs."""

    kind: str
    namespace: str
    port: int | None
    """``None`` for an adapter that listens on no port (MCP over stdio)."""
    address: str | None
    description: str | None
    operations: tuple[Exposed, ...]
    """What the adapter exposes that calls upstream (REST operations, MCP tools): each gets a plan."""
    at: DocPath = ()
    authentication: Authentication | None = field(default=None, kw_only=True)
    """The exposed ``authentication``: what a caller must present (D90); set by the builder."""


@dataclass(frozen=True)
class Capability:
    """One capability file, loaded."""

    file: Path
    version: str
    label: str | None
    description: str | None
    binds: tuple[Bind, ...]
    consumes: dict[str, Consumes]
    adapters: tuple[ExposedAdapter, ...]
    info_version: str | None = None
    """``info.version`` (beta4): the capability's own version, which an A2A agent card publishes."""
