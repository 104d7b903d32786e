"""Serve-time settings: everything the command line, the environment or an embedding program can
change (D18, D34, D54). Every default lives here and only here: ``cli`` shows them in its help.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import field
from urllib.parse import urlsplit

from .records import dataclass

DEFAULT_HOST = "127.0.0.1"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
BASE_URI_ENV_PREFIX = "NAFTIKO_BASE_URI_"
OAUTH_CLIENT_ENV = ("NAFTIKO_OAUTH_CLIENT_ID", "NAFTIKO_OAUTH_CLIENT_SECRET")
LOAD_CACHE_ENV = "NAFTIKO_LOAD_CACHE"
LOAD_CACHE_OFF = "off"
"""``load_cache``'s value (``--no-load-cache``) for loading without the load cache (D172)."""
"""The gateway's own OAuth client, for ``tokenValidation: introspection`` (D91: not in the file)."""
TRANSPORTS = ("http1", "aiohttp", "httpx")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def token_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a token endpoint, if it cannot: the client secret travels to it, so
    only https, or http to this machine (a local test server). One rule for both ways to declare a
    grant, the capability's extension key and the runtime configuration (D91)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute https:// URL"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return "must use https: the client secret is sent to it (http only to a loopback host)"
    if parts.fragment or parts.username is not None:
        return "must not carry a #fragment or user:password@"
    return None


STATE_SCHEMES = ("redis", "rediss", "unix")


def state_url_problem(url: str) -> str | None:
    """Why ``url`` cannot name a state store, if it cannot (issue 22): ``redis://HOST:PORT/DB``,
    ``rediss://`` (TLS) or ``unix:///path/redis.sock``; Valkey answers the same URLs."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"is not a URL ({exc})"
    if parts.scheme not in STATE_SCHEMES:
        return "must be redis://HOST:PORT/DB, rediss://HOST:PORT/DB or unix:///PATH"
    if parts.scheme != "unix" and not parts.hostname:
        return "names no host"
    if parts.scheme != "unix" and parts.path.strip("/") and not parts.path.strip("/").isdigit():
        return f"names database '{parts.path.strip('/')}', which is not a number"
    return None if port is None or port > 0 else "names port 0"


def base_uri_env_name(namespace: str) -> str:
    """D18: ``polytomic-subpackage-modelsync`` -> ``NAFTIKO_BASE_URI_POLYTOMIC_SUBPACKAGE_MODELSYNC``."""
    return BASE_URI_ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", namespace).upper()


@dataclass(frozen=True)
class Timeouts:
    """Seconds for one upstream exchange; ``None`` inherits the next level (operation, namespace,
    then ``Settings``' own)."""

    connect: float | None = None
    read: float | None = None
    total: float | None = None

    def over(self, base: Timeouts) -> Timeouts:
        return Timeouts(
            self.connect if self.connect is not None else base.connect,
            self.read if self.read is not None else base.read,
            self.total if self.total is not None else base.total,
        )


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of idempotent calls (or calls carrying ``Idempotency-Key``) after a network error or a
    429/502/503/504, with exponential backoff and full jitter, always within the total timeout."""

    attempts: int = 1
    """Tries in all, the first included: 1 is off."""
    backoff: float = 0.1
    """Seconds of the first backoff ceiling; doubled after each try, capped at ``max_backoff``."""
    max_backoff: float = 2.0


@dataclass(frozen=True)
class BreakerPolicy:
    """Opens after ``failures`` failed calls within ``window`` seconds; after ``open_for`` seconds
    lets ``probes`` calls through (half-open): a success closes it, a failure opens it again."""

    failures: int = 0
    """0 is off."""
    window: float = 10.0
    open_for: float = 5.0
    probes: int = 1


@dataclass(frozen=True)
class BulkheadPolicy:
    """At most ``max_concurrent`` upstream calls of one namespace at a time; a call waits at most
    ``queue_timeout`` seconds for a turn, then is answered 503."""

    max_concurrent: int = 0
    """0 is off."""
    queue_timeout: float = 1.0


REFRESH_LEEWAY = 10.0
"""Seconds before its expiry a fetched token stops being used for new calls (or a tenth of its
lifetime if that is longer): a call must not reach the upstream with a token expiring on the way."""


@dataclass(frozen=True)
class ClientCredentialsPolicy:
    """One namespace's OAuth 2.0 client credentials grant (RFC 6749 §4.4), declared in the runtime
    configuration (D91) so that the capability file stays valid against the official schema. The
    secret is only ever named (an environment variable), read when plans are compiled."""

    token_url: str
    client_secret_env: str
    client_id: str | None = None
    client_id_env: str | None = None
    """Exactly one of ``client_id`` (the id is no secret) and ``client_id_env`` is set."""
    scope: str | None = None
    audience: str | None = None
    client_authentication: str = "basic"
    """``basic``: ``client_secret_basic``; ``body``: ``client_secret_post``."""
    refresh_leeway: float = REFRESH_LEEWAY


@dataclass(frozen=True)
class ClientTLS:
    """TLS towards one namespace (issue 21, D124): a client certificate and its key (mTLS, both or
    neither) and the CA the upstream's certificate is checked against (``None``: the usual bundle).
    Paths, already resolved against the configuration file's folder."""

    cert: str | None = None
    key: str | None = None
    ca: str | None = None


@dataclass(frozen=True)
class CachePolicy:
    """Caching of one namespace's GETs in the shared cache (``core.cache``; issue 21, D123): off
    unless the configuration turns it on, as a gateway must not start serving stored answers an
    operator never asked for."""

    enabled: bool = False
    ttl: float | None = None
    """Seconds an answer stating no lifetime of its own (no ``max-age``, ``s-maxage``, ``Expires``)
    stays fresh; the upstream's own directives always win, ``no-store`` and ``private`` included."""
    vary: tuple[str, ...] = ()
    """Request headers that tell answers apart besides the upstream's ``Vary`` (lower case)."""


CACHE_ENTRIES = 1024
CACHE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class UpstreamPolicy:
    """Resilience of one consumed namespace (D91: runtime configuration, never a capability key)."""

    timeouts: Timeouts = Timeouts()
    retry: RetryPolicy = RetryPolicy()
    breaker: BreakerPolicy = BreakerPolicy()
    bulkhead: BulkheadPolicy = BulkheadPolicy()
    operations: Mapping[str, Timeouts] = field(default_factory=dict)
    """Timeouts of single consumed operations, by operation name."""
    client_credentials: ClientCredentialsPolicy | None = None
    """The namespace's token grant; it wins over the capability's own (the operator's word)."""
    tls: ClientTLS | None = None
    cache: CachePolicy = CachePolicy()
    """The namespace's client certificate and CA (``core.client_tls``); ``None``: plain verifying TLS."""

    @property
    def guarded(self) -> bool:
        """Whether any policy beyond timeouts is on: off, a call pays nothing for them."""
        return self.retry.attempts > 1 or self.breaker.failures > 0 or self.bulkhead.max_concurrent > 0


@dataclass(frozen=True)
class RateLimit:
    """Exposed calls per caller identity: ``requests`` per ``period`` seconds (429 beyond)."""

    requests: int = 0
    """0 is off."""
    period: float = 1.0
    burst: int = 0
    """Calls a caller may make at once after a quiet spell; 0 is ``requests`` (one period's worth)."""
    identity: str = "client"
    """``api-key`` (the Authorization or X-API-Key header), ``jwt-subject`` (the bearer token's
    ``sub``, unverified: a key for counting, not a proof) or ``client`` (the caller's address)."""


RATE_LIMIT_IDENTITIES = ("api-key", "jwt-subject", "client")


@dataclass(frozen=True)
class McpPolicy:
    """How the MCP adapter serves (``[mcp]`` of ``--config``, D91, D110): runtime policy, not
    capability semantics, so capability files stay valid against the official schema."""

    page_size: int = 0
    """Tools per ``tools/list`` page (a ``nextCursor`` beyond); 0 is every tool on one page."""
    confirm_destructive: bool = False
    """Ask the user (an MCP input request) before a tool whose ``hints.destructive`` is true runs."""
    tasks: bool = False
    """Serve tool calls as tasks to clients of the MCP Tasks extension (D114)."""
    task_ttl: float = 300.0
    """Seconds a finished task's result is kept for ``tasks/get``."""
    short_path: bool = True
    """Answer a stateless handshake-era ``tools/call`` without the ``mcp`` package's per-request
    transport (D141, ``adapters/mcp/stateless_call.py``); off sends every request its way."""


@dataclass
class Settings:
    host: str | None = None
    """Overrides every adapter's address; ``None`` keeps each adapter's own, else 127.0.0.1 (D34)."""
    port_offset: int = 0
    """Added to every adapter's port: two sets of the same files side by side."""
    base_uris: dict[str, str] = field(default_factory=dict)
    """``--base-uri NAMESPACE=URL``; wins over the environment variable of the namespace."""
    strict: bool = False
    """Warnings (schema violations, unset bind variables) become errors."""
    keep_going: bool = False
    """Serve the valid files and list the rejected ones instead of stopping (D32b)."""
    mock: bool = False
    """Every operation and tool answers from its outputs' static values; no upstream is ever
    called (D81): front-end and agent development before the upstream exists."""
    concurrent_steps: bool = False
    """Send consecutive call steps that read none of each other's results together (D80). Off by
    default: a later step may then be called although an earlier one fails."""
    script_timeout: float = 60.0
    """Seconds one script step may run (the spec's engine default, 60,000 ms; D83)."""
    script_memory: int = 64 * 1024 * 1024
    """Bytes of heap one script step may use (D83)."""
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    total_timeout: float = 60.0
    """Seconds for one whole upstream exchange, body included (D54)."""
    max_request_body: int = 10 * 1024 * 1024
    max_upstream_body: int = 32 * 1024 * 1024
    upstream_pool_size: int = 256
    """Pooled connections per consumed namespace; a call waits at most ``connect_timeout`` for one."""
    transport: str = "http1"
    """The transport for upstream calls: ``http1`` (the lean client of ``core/http1_transport.py``),
    ``aiohttp`` (its former default) or ``httpx`` (its own)."""
    workers: int = 1
    """Worker processes sharing the ports; MCP is stateless, so any worker serves any request."""
    log_level: str = "INFO"
    log_format: str = "text"
    """``json``: one JSON object per line, and one line per answered exposed request (adapter,
    operation, status, duration, trace id)."""
    max_request_line: int = 8 * 1024
    """Bytes of ``METHOD target HTTP/1.1`` a caller may send (414 beyond; nginx's default buffer)."""
    max_header_size: int = 8 * 1024
    """Bytes of one ``name: value`` header line (431 beyond)."""
    max_headers: int = 100
    """Header lines in one request (431 beyond; Apache's default)."""
    max_request_head: int = 32 * 1024
    """Bytes of the request line and every header together (431 beyond)."""
    header_timeout: float = 10.0
    """Seconds from a connection's start, or the end of its previous response, to a complete request
    head (408, or a quiet close when nothing was sent)."""
    max_connections: int | None = None
    """Open client connections per process, all ports together (503 beyond); ``None``: 4,096, or half
    the open-file limit if lower."""
    allowed_hosts: tuple[str, ...] = ()
    """Host names a port answers for besides loopback ones (``*``: any); DNS rebinding protection."""
    allowed_origins: tuple[str, ...] = ()
    """Browser origins allowed to call (``*``: any); others get 403 before any adapter runs."""
    cors_origins: tuple[str, ...] = ()
    """Origins whose CORS preflights are answered and whose answers carry CORS headers (off when empty)."""
    watch: bool = False
    """Reload when a served file, or a capability file in a served folder, is added, changed or removed."""
    watch_step_ms: int = 50
    """A batch of file changes is applied once no further change came for this long."""
    watch_debounce_ms: int = 500
    """A batch is applied after this long even while changes keep coming (issue 14: within 1 s)."""
    docs: bool = True
    """Every REST port serves ``/openapi.json`` and ``/docs`` (the API for people, Swagger UI)."""
    token_leeway: int = 30
    """Seconds of clock skew allowed on an exposed oauth2 token's ``exp`` and ``nbf``."""
    jwks_max_age: float = 300.0
    """Seconds an authorization server's key set is used before it is fetched again."""
    jwks_min_refresh: float = 10.0
    """Seconds between fetches when a token names an unknown ``kid``: a flood of forged key ids
    cannot make the gateway hammer the authorization server."""

    def oauth_client(self, environ: Mapping[str, str]) -> tuple[str, str] | None:
        """The client id and secret that token introspection authenticates with, if both are set."""
        client_id, secret = (environ.get(name) for name in OAUTH_CLIENT_ENV)
        return (client_id, secret) if client_id and secret else None

    upstream: UpstreamPolicy = UpstreamPolicy()
    """Policies of every namespace without its own entry in ``namespaces``."""
    namespaces: dict[str, UpstreamPolicy] = field(default_factory=dict)
    """Policies by consumed namespace (``--config``), already merged over ``upstream``."""
    rate_limit: RateLimit = RateLimit()
    mcp: McpPolicy = McpPolicy()
    cache_entries: int = CACHE_ENTRIES
    """Answers the shared upstream cache keeps, every namespace together (``[cache]``, D123)."""
    cache_bytes: int = CACHE_BYTES
    """Bytes of bodies and headers the shared upstream cache keeps."""
    state: str | None = None
    """``redis://HOST:PORT/DB``: rate-limit buckets, circuit breakers and fetched tokens shared by
    every instance using the same store (issue 22); ``None``: each process keeps its own."""
    load_cache: str | None = None
    """The load cache's folder (D172): parsed, checked and translated files kept for the next start;
    ``None``: ``$XDG_CACHE_HOME/naftiko-runtime/load`` (else ``~/.cache/...``); ``off``: none."""

    def policy_for(self, namespace: str) -> UpstreamPolicy:
        return self.namespaces.get(namespace, self.upstream)

    def timeouts_for(self, namespace: str, operation: str) -> Timeouts:
        """The operation's timeouts over the namespace's over the serve-wide ones (D54)."""
        policy = self.policy_for(namespace)
        base = policy.timeouts.over(Timeouts(self.connect_timeout, self.read_timeout, self.total_timeout))
        own = policy.operations.get(operation)
        return base if own is None else own.over(base)

    def base_uri_for(self, namespace: str, environ: Mapping[str, str] | None = None) -> str | None:
        if namespace in self.base_uris:
            return self.base_uris[namespace]
        return (os.environ if environ is None else environ).get(base_uri_env_name(namespace)) or None


DEFAULTS = Settings()
