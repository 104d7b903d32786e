"""Who may talk to a port from a browser: Host, Origin and CORS (issue 10, item 3; SECURITY.md).

A gateway on a developer's laptop holds API keys, and every web page the developer visits can send
requests to 127.0.0.1. Two browser tricks reach it: a cross-origin "simple" request (a POST with
``Content-Type: text/plain`` needs no preflight, and the page need not read the answer for the
call to happen), and DNS rebinding (the attacker's name resolves to 127.0.0.1, so the page is
same-origin with the gateway and names its own host in ``Host``). So, before any adapter sees a
request:

- ``Host`` must be a loopback name when the port is bound to loopback (else 421), or one of the
  configured ``--allowed-host`` names (``http_guard`` has already refused a missing or repeated one).
- A request carrying ``Origin`` must come from a loopback origin, the port's own origin, or one
  configured with ``--allowed-origin``/``--cors-origin`` (else 403). Browsers always send
  ``Origin`` on cross-origin requests and on every POST, so a page's request never gets through.
- CORS is off unless ``--cors-origin`` names origins: then their preflights are answered here
  (never forwarded) and their answers carry ``Access-Control-Allow-Origin``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..adapters.asgi import send_problem
from ..core.problems import Problem
from ..records import dataclass
from ..settings import LOOPBACK_NAMES, Settings, is_loopback

ANY = "*"
PREFLIGHT_MAX_AGE = "600"
MAX_KNOWN_HOSTS = 256
"""``Host`` decisions kept per port; beyond, each is decided afresh: a client cycling through Host
values cannot grow the process."""
EXPOSED_HEADERS = "Location, Retry-After, ETag, Last-Modified, Link, RateLimit, RateLimit-Policy"
"""Passed-back upstream headers (D52) a script on an allowed origin may read."""


def _hostname(host: str) -> str:
    """``example.test:8080`` -> ``example.test``; ``[::1]:8080`` -> ``::1``."""
    if host.startswith("["):
        return host[1:].partition("]")[0].lower()
    return host.rpartition(":")[0].lower() if host.count(":") == 1 else host.lower()


def _origin_key(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


@dataclass(frozen=True)
class OriginPolicy:
    allowed_hosts: frozenset[str] | None
    """Host names accepted in ``Host``; ``None`` accepts any (a port bound beyond loopback)."""
    allowed_origins: frozenset[str]
    cors_origins: frozenset[str]

    @classmethod
    def for_listener(cls, host: str, settings: Settings) -> OriginPolicy:
        configured = frozenset(h.lower() for h in settings.allowed_hosts)
        if ANY in configured:
            hosts = None
        elif is_loopback(host):
            hosts = frozenset(LOOPBACK_NAMES) | configured
        else:
            hosts = configured or None
        cors = frozenset(_origin_key(o) for o in settings.cors_origins)
        return cls(hosts, frozenset(_origin_key(o) for o in settings.allowed_origins) | cors, cors)

    def host_allowed(self, host: str) -> bool:
        return self.allowed_hosts is None or _hostname(host) in self.allowed_hosts

    def origin_allowed(self, origin: str, host: str) -> bool:
        key = _origin_key(origin)
        if ANY in self.allowed_origins or key in self.allowed_origins:
            return True
        parts = urlsplit(key)
        if parts.scheme not in ("http", "https"):
            return False
        return (parts.hostname or "") in LOOPBACK_NAMES or parts.netloc == host.lower()


def _headers(scope: Scope) -> tuple[bytes | None, bytes | None, bytes | None]:
    """``Host`` (the HTTP guard has made sure there is at most one), ``Origin``, and a preflight's method."""
    host = origin = method = None
    for name, value in scope["headers"]:
        if name == b"host":
            host = value
        elif name == b"origin":
            origin = value
        elif name == b"access-control-request-method":
            method = value
    return host, origin, method


class OriginGuard:
    """ASGI wrapper of one port's app enforcing its ``OriginPolicy``; nothing passes unchecked."""

    def __init__(self, app: ASGIApp, policy: OriginPolicy):
        self.app = app
        self.policy = policy
        self._hosts: dict[bytes, bool] = {}
        """``Host`` values already decided: the same few arrive on every request."""

    def allows_host(self, host_header: bytes) -> bool:
        allowed = self._hosts.get(host_header)
        if allowed is None:
            allowed = self.policy.host_allowed(host_header.decode("latin-1"))
            if len(self._hosts) < MAX_KNOWN_HOSTS:
                self._hosts[host_header] = allowed
        return allowed

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """The inner app's own coroutine when the request passes unchanged (no frame of this
        layer's on the request's stack, D150, D159), else the answer or the CORS-wrapped call."""
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        host_header, origin, preflight_method = _headers(scope)
        if host_header is not None and not self.allows_host(host_header):
            host = host_header.decode("latin-1")
            return _refuse(
                send,
                scope,
                421,
                f"this gateway does not answer for host '{host[:100]}' (DNS rebinding protection; see --allowed-host)",
            )
        if origin is None:
            return self.app(scope, receive, send)
        host = host_header.decode("latin-1") if host_header is not None else ""
        origin_text = origin.decode("latin-1")
        if not self.policy.origin_allowed(origin_text, host):
            return _refuse(
                send,
                scope,
                403,
                f"requests from origin '{origin_text[:100]}' are not allowed (see --allowed-origin and --cors-origin)",
            )
        if _origin_key(origin_text) not in self.policy.cors_origins:
            return self.app(scope, receive, send)
        if scope["method"] == "OPTIONS" and preflight_method is not None:
            return _preflight(send, origin, scope)
        return self.app(scope, receive, _with_cors(send, origin))


async def _refuse(send: Send, scope: Scope, status: int, detail: str) -> None:
    await send_problem(send, Problem(status, detail), scope["path"])


async def _preflight(send: Send, origin: bytes, scope: Scope) -> None:
    """A CORS preflight from an allowed origin: answered here, never forwarded upstream."""
    requested = b""
    for name, value in scope["headers"]:
        if name == b"access-control-request-headers":
            requested = value
    await send(
        {
            "type": "http.response.start",
            "status": 204,
            "headers": [
                (b"access-control-allow-origin", origin),
                (b"access-control-allow-methods", b"GET, HEAD, POST, PUT, PATCH, DELETE"),
                (b"access-control-allow-headers", requested),
                (b"access-control-max-age", PREFLIGHT_MAX_AGE.encode()),
                (b"vary", b"Origin"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b""})


def _with_cors(send: Send, origin: bytes) -> Send:
    async def send_with_cors(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers: Iterable[tuple[bytes, bytes]] = message.get("headers", [])
            message = {
                **message,
                "headers": [
                    *headers,
                    (b"access-control-allow-origin", origin),
                    (b"access-control-expose-headers", EXPOSED_HEADERS.encode()),
                    (b"vary", b"Origin"),
                ],
            }
        await send(message)

    return send_with_cors
