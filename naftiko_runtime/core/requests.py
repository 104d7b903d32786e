"""Building the upstream request of one step (CONTRACT D14-D17, D33).

Path values are percent-encoded as one segment (D15), parameters placed by their ``in`` (D16),
absent values omitted (D17), header values checked for CR/LF (D14), and the gateway's credentials
applied last so that a caller can never replace them (D33).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from ..records import dataclass
from ..spec.exactjson import dumps
from ..spec.expressions import Lookup, Reference, normalize_name, render_scalar, resolve
from ..version import __version__
from .codecs import add_query
from .inputs import WHOLE_BODY
from .plans import UpstreamCall
from .problems import InputProblem, Problem
from .steps import Results, StepValue

USER_AGENT = f"naftiko-runtime/{__version__}"
MAX_URL_LENGTH = 65_536
"""httpx refuses longer URLs with an exception; a caller's oversized value is a 400 that says why."""
FORBIDDEN_IN_HEADERS = ("\r", "\n", "\0")
NO_RESULTS: Results = {}


def encode_segment(name: str, value: Any) -> str:
    """D15: one path segment, whatever the value holds; dot segments and empty values refused."""
    text = render_scalar(value)
    if text in ("", ".", ".."):
        raise Problem(
            400,
            f"path parameter '{name}' cannot be {text!r}: it would change the upstream path",
            errors=[InputProblem(name, "path", f"{text!r} is not a valid path segment")],
        )
    # A REST value keeps the bytes it was sent with, invalid UTF-8 included (routing decodes with
    # surrogateescape): %FF and %FE stay two ids instead of both becoming U+FFFD.
    return quote(text.encode("utf-8", "surrogateescape"), safe="")


def header_value(name: str, value: Any) -> str:
    text = render_scalar(value)
    if any(c in text for c in FORBIDDEN_IN_HEADERS):
        raise Problem(
            400,
            f"header parameter '{name}' contains CR, LF or NUL",
            errors=[InputProblem(name, "header", "contains CR, LF or NUL")],
        )
    return text


class Drawn(str):
    """A header value this runtime drew itself: a trace context ``serving.tracing`` wrote from ids
    it drew (hexadecimal digits, dashes, a flag digit), never a value read from a capability, a
    caller or an upstream, so nothing in it to check. The lines of the ``Drawn`` values that end a
    request's headers are spliced into the head kept without them, unchecked (``Http1Transport._head``,
    D176); a value of any other type, the same header given by ``with:`` say, goes the checked way."""

    __slots__ = ()


@dataclass(slots=True)
class Outgoing:
    """One upstream request as plain values. The default transport sends these as they are; an
    ``httpx.Request`` (``to_httpx``) is built only for a custom transport or digest auth: its URL
    parsing and header normalisation measured ~14% of a pass-through (benchmarks/RESULTS.md)."""

    method: str
    url: str
    """Already encoded (D15): sent byte for byte."""
    headers: dict[str, str]
    content: bytes | None
    drawn: str = ""
    """Header lines (``name: value\r\n``) sent after ``headers``: the trace context ``serving.tracing``
    drew for this call, when no header of the same name was given (D186). Only the pooled
    transports read it; anything else reads the request ``with_drawn_headers`` makes."""

    def with_drawn_headers(self) -> Outgoing:
        """The request with its ``drawn`` lines as ``Drawn`` values at the end of its headers, the
        same headers in the same order: for a path that reads or adds headers (a cache, a fetched
        token, an ``httpx.Request``)."""
        if not self.drawn:
            return self
        return Outgoing(self.method, self.url, {**self.headers, **dict(drawn_pairs(self.drawn))}, self.content)

    def to_httpx(self) -> httpx.Request:
        headers = self.with_drawn_headers().headers
        return httpx.Request(self.method, self.url, headers=headers, content=self.content)


def drawn_pairs(drawn: str) -> list[tuple[str, Drawn]]:
    """``Outgoing.drawn``'s lines as header names and ``Drawn`` values."""
    return [(name, Drawn(value)) for name, _, value in (line.partition(": ") for line in drawn.split("\r\n")[:-1])]


def build_outgoing(
    call: UpstreamCall, inputs: Mapping[str, Any], lookup: Lookup, results: Results = NO_RESULTS
) -> Outgoing:
    """The upstream request of one step: arguments placed by their ``in`` (D16), credentials last
    (D33); a value read from an earlier step's result (D80) is absent when the path matches nothing."""
    values: dict[str, Any] = {}
    placed: list[tuple[str, str, Any]] = []
    for argument in call.arguments:
        source = argument.source
        if isinstance(source, StepValue):
            value = source.extract(results)
            present = value is not None
        else:
            present, value = resolve(source, lookup, inputs)
        if present and value is not None:
            parameter = argument.parameter
            values[normalize_name(parameter.name)] = value
            placed.append((parameter.location or "query", parameter.name, value))

    path = []
    for part in call.path_parts:
        if isinstance(part, str):
            path.append(part)
            continue
        found, value = _path_value(part, values, lookup)
        if not found:
            raise Problem(
                400,
                f"no value for upstream path parameter '{part.text}'",
                errors=[InputProblem(part.text, "path", "required")],
            )
        path.append(encode_segment(part.text, value))
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
            if name == WHOLE_BODY:
                whole_body = value
            else:
                body_fields[name] = value
    content, content_type = None, None
    if call.body is not None:
        content, content_type = call.body.encode(_with_arguments(lookup, values))
    elif whole_body is not None or body_fields:
        document = whole_body if whole_body is not None else body_fields
        if isinstance(whole_body, dict) and body_fields:
            document = {**whole_body, **body_fields}
        content, content_type = dumps(document), "application/json"
    if content_type and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = content_type
    if cookies:
        headers["Cookie"] = "; ".join(cookies)
    credentials = call.credentials
    if credentials.headers:
        for name, value in credentials.headers:
            for existing in [k for k in headers if k.lower() == name.lower()]:
                del headers[existing]
            headers[name] = value
    query.extend(credentials.query)
    url = call.base_uri.rstrip("/") + "".join(path)
    if query:
        url += "?" + urlencode(query)
    if len(url) > MAX_URL_LENGTH:
        raise Problem(
            400,
            f"the inputs make an upstream URL of {len(url):,} characters; the limit is "
            f"{MAX_URL_LENGTH:,} (most servers refuse far less)",
        )
    return Outgoing(call.method, url, headers, content)


def _path_value(part: Reference, values: Mapping[str, Any], lookup: Lookup) -> tuple[bool, Any]:
    """A placeholder's value: the argument filling it, or for ``{{<step>.<field>}}`` (an earlier
    step's result, D80) and ``{{<bind namespace>.<VARIABLE>}}`` what the template lookup finds."""
    if part.namespace is None:
        key = normalize_name(part.name)
        return key in values, values.get(key)
    found, value = lookup(part)
    return found and value is not None, value


def _with_arguments(lookup: Lookup, values: Mapping[str, Any]) -> Lookup:
    """Body templates may also name the consumed parameters the ``with`` entries filled."""

    def find(reference: Reference) -> tuple[bool, Any]:
        found, value = lookup(reference)
        if not found and normalize_name(reference.name) in values:
            return True, values[normalize_name(reference.name)]
        return found, value

    return find
