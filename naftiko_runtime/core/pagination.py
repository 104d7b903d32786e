"""Gathering every page of a consumed list (issue 21 item 2, D121).

A plan whose exposed operation asks for ``pages: all`` sends its request, takes the page's items
(``items``, a JSONPath), and asks for the next page as the consumed operation's style says: the
body's cursor in ``cursorParameter``, the next offset, the next page number, or the ``Link``
header's ``rel="next"`` (RFC 8288). It stops on an empty page, a missing or empty cursor, a
cursor or link it has already followed (an upstream that loops), a short offset page, a ``Link``
without ``next`` or to another origin (credentials go only where the consumed ``baseUri`` is),
or after ``max_pages``. An error page is the answer, as an upstream error is (D51).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urljoin, urlsplit, urlunsplit

from ..records import dataclass
from ..spec.expressions import render_scalar
from ..spec.model import Pagination
from .outputs import compile_path
from .plans import Paging
from .requests import Outgoing
from .upstream import UpstreamResponse

LINK = re.compile(r'<([^>]*)>((?:\s*;\s*[^;,"]*(?:"[^"]*"[^;,"]*)*)*)')
"""One ``<uri>; param=value; ...`` entry of a ``Link`` header; a quoted value may hold ``,`` and ``;``."""
REL = re.compile(r';\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))', re.IGNORECASE)

Fetch = Callable[[Outgoing], Awaitable[tuple[UpstreamResponse, Any]]]
"""Sends one page's request: the answer, and its decoded body when it is a 2xx."""


@dataclass(frozen=True)
class Pages:
    items: list[Any]
    count: int
    """How many pages were fetched."""
    failed: UpstreamResponse | None = None
    """The first error page: the answer instead of the items."""


async def walk(paging: Paging, request: Outgoing, fetch: Fetch) -> Pages:
    """Every page from ``request`` on, as ``paging`` says (the module's docstring says when it stops)."""
    collected: list[Any] = []
    request = _first(paging, request)
    followed = {request.url}
    for count in range(1, paging.max_pages + 1):
        response, document = await fetch(request)
        if not 200 <= response.status < 300:
            return Pages(collected, count, response)
        found = paging.items(document)
        page = found if isinstance(found, list) else [] if found is None else [found]
        collected.extend(page)
        following = _next(paging, request, response, document, len(page)) if page else None
        if following is None or following.url in followed:
            return Pages(collected, count)
        followed.add(following.url)
        request = following
    return Pages(collected, paging.max_pages)


def _first(paging: Paging, request: Outgoing) -> Outgoing:
    """The offset style asks for ``limit`` items a page, unless the caller already did."""
    if paging.style == "offset" and _query(request.url).get(paging.limit_parameter) is None:
        return _with_query(request, paging.limit_parameter, paging.limit)
    return request


def _next(paging: Paging, request: Outgoing, response: UpstreamResponse, document: Any, size: int) -> Outgoing | None:
    if paging.style == "link":
        return _linked(request, response.headers.get("link"))
    assert paging.parameter is not None
    current = _query(request.url)
    if paging.style == "cursor":
        assert paging.cursor is not None
        cursor = paging.cursor(document)
        return None if cursor in (None, "") else _with_query(request, paging.parameter, render_scalar(cursor))
    if paging.style == "offset":
        limit = _integer(current.get(paging.limit_parameter), paging.limit)
        offset = _integer(current.get(paging.parameter), 0)
        return None if size < limit else _with_query(request, paging.parameter, offset + size)
    return _with_query(request, paging.parameter, _integer(current.get(paging.parameter), paging.first_page) + 1)


def compile_paging(pagination: Pagination, max_pages: int) -> Paging:
    """Raises ``MappingError`` for a bad ``items`` or ``cursor`` JSONPath."""
    cursor = compile_path(pagination.cursor) if pagination.cursor else None
    return Paging(
        pagination.style,
        compile_path(pagination.items),
        cursor,
        pagination.parameter,
        pagination.limit_parameter,
        pagination.limit,
        pagination.first_page,
        max_pages,
    )


def next_link(header: str | None) -> str | None:
    """The target of the first ``rel="next"`` entry of a ``Link`` header (rel may list several)."""
    for target, parameters in LINK.findall(header or ""):
        for quoted, bare in REL.findall(parameters):
            if "next" in (quoted or bare).lower().split():
                return str(target)
    return None


def _linked(request: Outgoing, header: str | None) -> Outgoing | None:
    target = next_link(header)
    if target is None:
        return None
    url = urljoin(request.url, target)
    here, there = urlsplit(request.url), urlsplit(url)
    if (here.scheme, here.netloc) != (there.scheme, there.netloc):
        return None
    return replace(request, url=url)


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def _with_query(request: Outgoing, name: str, value: Any) -> Outgoing:
    """``name=value`` replacing any earlier ``name``; the other pairs keep their bytes (D15, D16)."""
    parts = urlsplit(request.url)
    kept = [pair for pair in parts.query.split("&") if pair and unquote_plus(pair.split("=", 1)[0]) != name]
    kept.append(urlencode({name: render_scalar(value)}))
    return replace(request, url=urlunsplit(parts._replace(query="&".join(kept))))


def _integer(text: str | None, default: int) -> int:
    return int(text) if text is not None and text.isdigit() else default
