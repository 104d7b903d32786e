"""The consumed side: building the upstream HTTP request, and sending it (CONTRACT D14-D18, D54).

``build_request`` turns a plan and the caller's inputs into an ``httpx.Request``: path values
percent-encoded as one segment (D15), parameters placed by their ``in`` (D16), absent values
omitted (D17), header values checked for CR/LF (D14), the gateway's credentials applied last
so that a caller can never replace them (D33). ``UpstreamClients`` holds one pooled client per
consumed namespace and bounds every exchange in time and size.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, Callable
from urllib.parse import quote, urlencode

import httpx
import orjson

from . import __version__
from .expressions import Reference, Template, normalize_name, render_scalar, resolve
from .plans import CallPlan
from .problems import Problem
from .settings import Settings

USER_AGENT = f"naftiko-runtime/{__version__}"
FORBIDDEN_IN_HEADERS = ("\r", "\n", "\0")
BODY_CONTENT_TYPES = {"json": "application/json", "text": "text/plain; charset=utf-8",
                      "xml": "application/xml", "sparql": "application/sparql-query",
                      "formUrlEncoded": "application/x-www-form-urlencoded"}


def encode_segment(name: str, value: Any) -> str:
    """D15: one path segment, whatever the value holds; dot segments and empty values refused."""
    text = render_scalar(value)
    if text in ("", ".", ".."):
        raise Problem(400, f"path parameter '{name}' cannot be {text!r}: it would change the upstream path",
                      errors=[{"name": name, "in": "path", "problem": f"{text!r} is not a valid path segment"}])
    return quote(text, safe="")


def add_query(pairs: list[tuple[str, str]], name: str, value: Any) -> None:
    """D16: scalars as ``name=value``, arrays exploded, objects in deepObject style."""
    if value is None:
        return
    if isinstance(value, list):
        for item in value:
            add_query(pairs, name, item)
    elif isinstance(value, dict):
        for key, item in value.items():
            add_query(pairs, f"{name}[{key}]", item)
    else:
        pairs.append((name, render_scalar(value)))


def header_value(name: str, value: Any) -> str:
    text = render_scalar(value)
    if any(c in text for c in FORBIDDEN_IN_HEADERS):
        raise Problem(400, f"header parameter '{name}' contains CR, LF or NUL",
                      errors=[{"name": name, "in": "header", "problem": "contains CR, LF or NUL"}])
    return text


def _render_data(data: Any, lookup: Callable[[Reference], tuple[bool, Any]]) -> Any:
    """Templates inside an operation ``body:``; a string that is one reference keeps its type."""
    if isinstance(data, str):
        return Template.parse(data).render(lookup)[1] if "{{" in data else data
    if isinstance(data, dict):
        return {key: _render_data(value, lookup) for key, value in data.items()}
    if isinstance(data, list):
        return [_render_data(value, lookup) for value in data]
    return data


def _operation_body(template: Any, lookup: Callable[[Reference], tuple[bool, Any]]) -> tuple[bytes, str]:
    """Specification section 3.10 request bodies: json, text, xml, sparql, formUrlEncoded, raw."""
    if isinstance(template, str):
        return render_scalar(_render_data(template, lookup)).encode(), "application/json"
    kind = template.get("type", "json")
    data = _render_data(template.get("data"), lookup)
    if kind == "json":
        return (data.encode() if isinstance(data, str) else orjson.dumps(data)), BODY_CONTENT_TYPES["json"]
    if kind == "formUrlEncoded" and isinstance(data, dict):
        pairs: list[tuple[str, str]] = []
        for key, value in data.items():
            add_query(pairs, key, value)
        return urlencode(pairs).encode(), BODY_CONTENT_TYPES[kind]
    return render_scalar(data if data is not None else "").encode(), BODY_CONTENT_TYPES.get(kind, "text/plain")


def build_request(plan: CallPlan, inputs: dict[str, Any]) -> httpx.Request:
    route = plan.route
    template_lookup = plan.lookup(inputs)
    values: dict[str, Any] = {}
    placed: list[tuple[str, str, Any]] = []
    for argument in plan.arguments:
        present, value = resolve(argument.source, template_lookup, inputs)
        if present and value is not None:
            parameter = argument.parameter
            values[normalize_name(parameter.name)] = value
            placed.append((parameter.location or "query", parameter.name, value))

    def body_lookup(reference: Reference) -> tuple[bool, Any]:
        found, value = template_lookup(reference)
        if not found and normalize_name(reference.name) in values:
            return True, values[normalize_name(reference.name)]
        return found, value

    path = []
    for part in route.path_parts:
        if isinstance(part, str):
            path.append(part)
            continue
        key = normalize_name(part.name)
        if key not in values:
            raise Problem(400, f"no value for upstream path parameter '{part.name}'",
                          errors=[{"name": part.name, "in": "path", "problem": "required"}])
        path.append(encode_segment(part.name, values[key]))
    query: list[tuple[str, str]] = []
    headers: dict[str, str] = {"User-Agent": USER_AGENT}
    cookies: list[str] = []
    body_fields: dict[str, Any] = {}
    whole_body: Any = None
    for location, name, value in placed:
        if location == "query":
            add_query(query, name, value)
        elif location == "header":
            headers[name] = header_value(name, value)
        elif location == "cookie":
            cookies.append(f"{name}={quote(render_scalar(value), safe='')}")
        elif location == "body":
            if name == "body":
                whole_body = value
            else:
                body_fields[name] = value
    content, content_type = None, None
    if route.body_template is not None:
        content, content_type = _operation_body(route.body_template, body_lookup)
    elif whole_body is not None or body_fields:
        document = whole_body if whole_body is not None else body_fields
        if isinstance(whole_body, dict) and body_fields:
            document = {**whole_body, **body_fields}
        content, content_type = orjson.dumps(document), "application/json"
    if content_type and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = content_type
    if cookies:
        headers["Cookie"] = "; ".join(cookies)
    credentials = route.credentials
    if credentials.headers:
        for name, value in credentials.headers:
            for existing in [k for k in headers if k.lower() == name.lower()]:
                del headers[existing]
            headers[name] = value
    query.extend(credentials.query)
    url = route.base_uri.rstrip("/") + "".join(path)
    if query:
        url += "?" + urlencode(query)
    return httpx.Request(route.method, url, headers=headers, content=content)


@dataclass(frozen=True)
class UpstreamResponse:
    status: int
    headers: httpx.Headers
    body: bytes


def _no_cookies() -> CookieJar:
    """Upstream cookies must never leak from one caller to the next: the jar accepts nothing."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every upstream: building one loads the CA bundle (~20 ms), which
    per namespace made a 1,000-file serve spend 70% of its start-up here."""
    return httpx.create_ssl_context()


def _transport(settings: Settings) -> httpx.AsyncBaseTransport:
    limits = httpx.Limits(max_connections=settings.max_connections, max_keepalive_connections=settings.max_connections)
    if settings.transport == "httpx":
        return httpx.AsyncHTTPTransport(verify=_tls_context(), limits=limits)
    import aiohttp
    from httpx_aiohttp import AiohttpTransport

    def session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=settings.max_connections, keepalive_timeout=30, ssl=_tls_context())
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())
    return AiohttpTransport(verify=_tls_context(), limits=limits, client=session)


def _is_timeout(exc: BaseException) -> bool:
    """httpx-aiohttp maps some connection errors to ``ConnectTimeout``: trust the root cause."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, TimeoutError):
            return True
        if cause.__cause__ is None:
            return isinstance(cause, httpx.TimeoutException)
        cause = cause.__cause__
    return False


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Transport errors that httpx-aiohttp leaves unmapped (a status line that is not HTTP raises
    aiohttp's ``ClientResponseError``): the upstream broke the exchange, a 502 and never a 500 (D53)."""
    try:
        import aiohttp
    except ImportError:
        return (OSError,)
    return (aiohttp.ClientError, OSError)


class _Where:
    """Names the exchange in an error message; built into text only when an error is raised."""

    def __init__(self, plan: CallPlan, request: httpx.Request):
        self.route, self.request = plan.route, request

    def __str__(self) -> str:
        route = self.route
        return f"{route.namespace}.{route.operation} ({route.method} {self.request.url.path})"


class UpstreamClients:
    """One pooled ``httpx.AsyncClient`` per consumed namespace, opened in the app's lifespan."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._transports: dict[str, httpx.AsyncBaseTransport] = {}
        self._timeout = httpx.Timeout(connect=settings.connect_timeout, read=settings.read_timeout,
                                      write=settings.read_timeout, pool=settings.connect_timeout)
        self._timeout_extension = self._timeout.as_dict()
        self._transport_errors = _transport_errors()

    def open(self, namespaces: set[str]) -> None:
        for namespace in sorted(namespaces - set(self._clients)):
            transport = _transport(self.settings)
            self._transports[namespace] = transport
            self._clients[namespace] = httpx.AsyncClient(
                transport=transport, timeout=self._timeout, follow_redirects=False, cookies=_no_cookies(),
                trust_env=False)

    async def aclose(self) -> None:
        clients, self._clients, self._transports = self._clients, {}, {}
        for client in clients.values():
            await client.aclose()

    async def _exchange(self, plan: CallPlan, request: httpx.Request) -> httpx.Response:
        """Send one request, streaming the answer.

        Digest needs the client's challenge-response flow. Every other call goes straight to the
        pooled transport: the client's auth, redirect and cookie machinery does nothing for it
        (no redirects are followed, no cookies kept) and measured ~20% of a pass-through.
        """
        namespace = plan.route.namespace
        if namespace not in self._clients:
            self.open({namespace})
        if plan.route.credentials.digest:
            return await self._clients[namespace].send(request, stream=True, auth=plan.route.credentials.httpx_auth())
        request.extensions["timeout"] = self._timeout_extension
        response = await self._transports[namespace].handle_async_request(request)
        response.request = request
        return response

    async def send(self, plan: CallPlan, request: httpx.Request) -> UpstreamResponse:
        where = _Where(plan, request)
        limit = self.settings.max_upstream_body
        try:
            async with asyncio.timeout(self.settings.total_timeout):
                response = await self._exchange(plan, request)
                try:
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > limit:
                        raise Problem(502, f"upstream {where} answered a {declared}-byte body; the limit is {limit}")
                    chunks, size = [], 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > limit:
                            raise Problem(502, f"upstream {where} answered more than {limit} bytes")
                        chunks.append(chunk)
                finally:
                    await response.aclose()
        except TimeoutError as exc:
            raise Problem(504, f"upstream {where} did not answer within {self.settings.total_timeout:g} s") from exc
        except httpx.HTTPError as exc:
            if _is_timeout(exc):
                raise Problem(504, f"upstream {where} timed out ({type(exc).__name__})") from exc
            raise Problem(502, f"upstream {where} could not be reached or broke off: {type(exc).__name__}") from exc
        except self._transport_errors as exc:
            raise Problem(502, f"upstream {where} broke off or did not answer HTTP: {type(exc).__name__}") from exc
        return UpstreamResponse(response.status_code, response.headers, b"".join(chunks))
