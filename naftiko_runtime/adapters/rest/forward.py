"""``forward``: a REST prefix passed through to a consumed namespace untouched (CONTRACT D82).

The rest of the path, the raw query and the body go as they came; of the caller's headers only
the ``trustedHeaders`` go (never a hop-by-hop header or ``Host``; ``Cookie`` only when trusted),
then the gateway's own: consumes-level ``value`` parameters and credentials, which a caller can
never replace. The answer comes back with its hop-by-hop headers and (unless ``Cookie`` is
trusted) its ``Set-Cookie`` dropped and the gateway's secrets redacted. The call goes through
the execution core (``Executor.relay``) like any other: same pool, timeouts, body limit, metrics and traces.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlsplit

from ...core.execution import Executor, Reply
from ...core.plans import OperationPlan
from ...core.problems import Problem
from ...core.requests import Outgoing, build_outgoing
from ...records import dataclass

NEVER_FORWARDED = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
"""Hop-by-hop headers (RFC 9110 7.6.1), ``Host`` and the length (recomputed): never passed either way."""
SEPARATORS = re.compile(r"[/\\]")


@dataclass(frozen=True)
class ForwardRoute:
    prefix: str
    """The resource path before its trailing placeholder: ``/proxy`` for ``/proxy/{path}``."""
    plan: OperationPlan
    trusted: frozenset[str]
    """Lower-case names of the caller's headers that may go upstream."""

    def rest(self, path: str) -> str | None:
        """The raw path below the prefix (``""`` or ``/...``), or ``None`` when outside it."""
        if path == self.prefix or self.prefix == "":
            return path[len(self.prefix) :]
        if path.startswith(self.prefix + "/"):
            return path[len(self.prefix) :]
        return None

    def passes_back(self, name: str) -> bool:
        """Which of the upstream's answer headers reach the caller."""
        lower = name.lower()
        # The body was read decoded: its length and encoding are the gateway's to state.
        if lower in NEVER_FORWARDED or lower in ("content-type", "content-encoding"):
            return False
        return lower != "set-cookie" or "cookie" in self.trusted


def forward_prefix(path: str) -> str:
    """``/proxy/{path}`` and ``/proxy/{{path}}`` forward everything below ``/proxy``."""
    head, _, last = path.rstrip("/").rpartition("/")
    return head if last.startswith("{") else path.rstrip("/")


def _callers_query(query: bytes, gateway: str) -> str:
    """The caller's raw query without the parameters the gateway sets (a query API key, D33)."""
    text = query.decode("latin-1")
    if not gateway or not text:
        return text
    own = {name for name, _ in parse_qsl(gateway, keep_blank_values=True)}
    return "&".join(pair for pair in text.split("&") if unquote(pair.partition("=")[0]) not in own)


def _check_traversal(rest: str) -> None:
    """D82: a dot segment, even percent-encoded or behind an encoded slash, could leave the
    prefix once the upstream normalises the path: refused, whether or not it would."""
    for segment in rest.split("/"):
        if any(part in (".", "..") for part in SEPARATORS.split(unquote(segment))):
            raise Problem(400, "a forwarded path may not contain '.' or '..' segments (D82)")


async def forward(
    route: ForwardRoute,
    rest: str,
    method: str,
    query: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    executor: Executor,
) -> Reply:
    _check_traversal(rest)
    calls = route.plan.calls
    if not calls:
        raise Problem(503, "forwarding is off in mock mode: no upstream is called (D81)")
    call = calls[0]
    gateway = build_outgoing(call, {}, route.plan.lookup({}))
    sent: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1").lower()
        described = name == "content-type" and body
        if (name in route.trusted or described) and name not in NEVER_FORWARDED:
            # A repeated field goes as one, its values joined as RFC 9110 5.3 allows.
            value = raw_value.decode("latin-1")
            sent[name] = f"{sent[name]}{'; ' if name == 'cookie' else ', '}{value}" if name in sent else value
    for name in {name.lower() for name in gateway.headers}:
        sent.pop(name, None)
    sent.update(gateway.headers)
    url = call.base_uri.rstrip("/") + rest
    own_query = urlsplit(gateway.url).query
    queries = [q for q in (_callers_query(query, own_query), own_query) if q]
    if queries:
        url += "?" + "&".join(queries)
    request = Outgoing(method, url, sent, body or None)
    return await executor.relay(call, request, route.passes_back)
