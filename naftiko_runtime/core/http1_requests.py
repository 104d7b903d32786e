"""The head of an upstream HTTP/1.1 request, written by ``http1_transport``: the request line with
the URL's path and query byte for byte (D15; issue 10, item 4), Host from the URL's authority
unless given, the framing worked out from the body, and the headers aiohttp sent by default where
the request has none. A CR, LF or NUL in the method, target or a header, or a name that is not a
token, is refused before anything is written: no request splitting.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

import httpx

from ..records import dataclass
from .pooled import Headers
from .requests import USER_AGENT

_SENDS_LENGTH = frozenset({"POST", "PUT", "PATCH"})
"""Methods whose requests carry ``Content-Length: 0`` when they have no body (as aiohttp and httpx)."""
_FRAMING = frozenset({"content-length", "transfer-encoding"})
"""Worked out from the body, whatever the request's headers say."""
_DEFAULTS = (("accept", "Accept: */*\r\n"), ("accept-encoding", "Accept-Encoding: gzip, deflate\r\n"))
_NOT_TOKEN = re.compile(r"[^!#$%&'*+\-.^_`|~0-9A-Za-z]")
_NOT_IN_VALUE = re.compile(r"[\r\n\0]")
_NOT_IN_TARGET = re.compile(r"[\x00-\x20\x7f]")
_BARE_TARGET = re.compile(r"[^/?#]*")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a URL's requests go, worked out once per scheme and authority."""

    tls: bool
    host: str
    port: int
    host_line: str
    """``Host: ...\\r\\n``, with the port when it is not the scheme's."""
    authorization: str | None
    """``Authorization: Basic ...\\r\\n`` from the URL's user information, as aiohttp sent it."""


@functools.lru_cache(maxsize=256)
def origin_of(prefix: str) -> Origin:
    """``prefix`` is a URL's scheme and authority."""
    parts = urlsplit(prefix)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise httpx.UnsupportedProtocol(f"the upstream URL {prefix!r} is not http or https")
    host = parts.hostname
    try:
        port = parts.port
    except ValueError:
        port = -1
    if not host or port == -1:
        raise httpx.UnsupportedProtocol(f"the upstream URL {prefix!r} has no valid host and port")
    default = 443 if scheme == "https" else 80
    named = host if host.isascii() else host.encode("idna").decode("ascii")
    shown = f"[{named}]" if ":" in named else named
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        authorization = f"Authorization: Basic {base64.b64encode(pair).decode('ascii')}\r\n"
    host_line = f"Host: {shown}\r\n" if port in (None, default) else f"Host: {shown}:{port}\r\n"
    return Origin(scheme == "https", named, port or default, host_line, authorization)


def split_url(url: str) -> tuple[str, str]:
    """A URL's scheme and authority, and its request target (path and query, without fragment)."""
    start = url.find("://") + 3
    if start == 2:
        raise httpx.UnsupportedProtocol(f"the upstream URL {url[:200]!r} is not absolute")
    bare = _BARE_TARGET.match(url, start)
    end = bare.end() if bare is not None else start
    target = url[end:]
    if "#" in target:
        target = target.partition("#")[0]
    if not target.startswith("/"):
        target = "/" + target
    return url[:end], target


PER_CALL = frozenset(
    {
        "traceparent",
        "tracestate",
        "baggage",
        "b3",
        "x-b3-traceid",
        "x-b3-spanid",
        "x-b3-parentspanid",
        "x-b3-sampled",
        "x-b3-flags",
        "idempotency-key",
        "x-request-id",
    }
)
"""Headers (lower case) whose value is new on every call: a trace context, an idempotency key. A
head is kept without them and they are added to the kept bytes (``Http1Transport._head``, D167)."""


def request_head(method: str, target: str, origin: Origin, headers: Headers, length: int) -> bytes:
    """The request line and headers; ``length`` -1 for a chunked body."""
    return b"".join(request_head_parts(method, target, origin, headers, length))


def request_head_parts(method: str, target: str, origin: Origin, headers: Headers, length: int) -> tuple[bytes, bytes]:
    """``request_head`` in two parts: up to the last of ``headers`` (the request line, Host and the
    given headers), then the rest (default headers, framing, the blank line). Header lines that
    follow the given ones go between the two, written as they would have been (D167)."""
    lines = [method, " ", target, " HTTP/1.1\r\n"]
    names, values, given = [method], [], set()
    for name, value in headers.items() if isinstance(headers, Mapping) else headers:
        lower = name.lower()
        if lower in _FRAMING:
            continue
        given.add(lower)
        names.append(name)
        values.append(value)
        lines += (name, ": ", value, "\r\n")
    if _NOT_TOKEN.search("".join(names)) or not all(names) or _NOT_IN_VALUE.search("".join(values)):
        raise httpx.LocalProtocolError(_refusal(names, values))
    if _NOT_IN_TARGET.search(target):
        raise httpx.LocalProtocolError(f"the upstream request target {target[:200]!r} holds a space or control")
    if "host" not in given:
        lines.insert(4, origin.host_line)
    given_end = len(lines)
    for lower, line in _DEFAULTS:
        if lower not in given:
            lines.append(line)
    if "user-agent" not in given:
        lines += ("User-Agent: ", USER_AGENT, "\r\n")
    if origin.authorization is not None and "authorization" not in given:
        lines.append(origin.authorization)
    if length < 0:
        lines.append("Transfer-Encoding: chunked\r\n\r\n")
    elif length or method in _SENDS_LENGTH:
        lines += ("Content-Length: ", str(length), "\r\n\r\n")
    else:
        lines.append("\r\n")
    return _encoded(lines[:given_end]), _encoded(lines[given_end:])


def per_call_lines(method: str, headers: tuple[tuple[str, str], ...]) -> bytes:
    """The header lines of ``headers`` (named in ``PER_CALL``, so never framing), refused as
    ``request_head`` refuses a header that would split the request or break its head."""
    names, values = [method], []
    lines: list[str] = []  # not ``list[str]()``: calling the alias raises and swallows an AttributeError each time
    for name, value in headers:
        names.append(name)
        values.append(value)
        lines += (name, ": ", value, "\r\n")
    if _NOT_TOKEN.search("".join(names)) or not all(names) or _NOT_IN_VALUE.search("".join(values)):
        raise httpx.LocalProtocolError(_refusal(names, values))
    return _encoded(lines)


def _encoded(lines: list[str]) -> bytes:
    return "".join(lines).encode("utf-8", "surrogateescape")


def _refusal(names: list[str], values: list[str]) -> str:
    """Says which part of a refused request would have split it or broken its head."""
    if _NOT_TOKEN.search(names[0]) or not names[0]:
        return f"the upstream request method {names[0][:100]!r} is not an HTTP token"
    for name, value in zip(names[1:], values, strict=True):
        if _NOT_TOKEN.search(name) or not name:
            return f"the upstream request header name {name[:100]!r} is not an HTTP token"
        if _NOT_IN_VALUE.search(value):
            return f"the upstream request header {name!r} holds CR, LF or NUL: refused (it would split the request)"
    raise AssertionError("called for a refused request")
