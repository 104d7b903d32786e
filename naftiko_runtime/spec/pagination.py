"""``x-naftiko-pagination`` (issue 21 item 2, D121): how a consumed list operation pages, and
whether an exposed operation or tool gathers every page.

On a consumed operation::

    x-naftiko-pagination:
      style: cursor                          # cursor | offset | page | link (RFC 8288)
      items: $.data                          # the page's items; default: the whole body
      cursor: $.pagination.next_page_token   # cursor: where the next cursor is in the body
      cursorParameter: page_token            # cursor: the query parameter that sends it back
      # offset: offsetParameter (offset), limitParameter (limit), limit (50)
      # page:   pageParameter (page), firstPage (1)

On an exposed operation or tool: ``x-naftiko-pagination: {pages: all, maxPages: 10}`` gathers
the items of every page (at most ``maxPages``, capped at 100) into one list; ``pages: one`` (and
no key at all) passes one page through, its cursor (or ``Link`` header, D52) with it.

Read by the builder with the other extension keys: always warned about (D97), so ``--strict``
refuses the file.
"""

from __future__ import annotations

from typing import Any

from .composition import Builder
from .diagnostics import DocPath
from .extensions import not_official
from .model import Pagination

PAGINATION = "x-naftiko-pagination"
STYLES = ("cursor", "offset", "page", "link")
DEFAULT_MAX_PAGES = 10
MAX_PAGES = 100
"""A hard cap whatever the file says: one caller's request must not walk an endless list."""
INSTEAD = "to stay portable, expose the list's own cursor parameter and let the caller page"
CONSUMED_KEYS = ("style", "items", "cursor", "cursorParameter", "offsetParameter", "limitParameter", "limit") + (
    "pageParameter",
    "firstPage",
)


def consumed_pagination(builder: Builder, node: dict[str, Any], at: DocPath) -> Pagination | None:
    if PAGINATION not in node:
        return None
    at = at + (PAGINATION,)
    builder.warning(at, not_official(PAGINATION, INSTEAD))
    block = builder.mapping(node[PAGINATION], at, f"'{PAGINATION}'")
    for key in block:
        if key not in CONSUMED_KEYS:
            builder.error(at + (key,), f"unknown key '{key}' in '{PAGINATION}'; allowed: {', '.join(CONSUMED_KEYS)}")
    style = builder.text(block, "style", at, required=True)
    if style is not None and style not in STYLES:
        builder.error(at + ("style",), f"pagination style '{style}' is not one of {', '.join(STYLES)}")
        return None
    items = builder.text(block, "items", at) or "$"
    if style == "cursor":
        cursor = builder.text(block, "cursor", at, required=True)
        parameter = builder.text(block, "cursorParameter", at, required=True)
        return Pagination(style, items, cursor, parameter, at=at) if cursor and parameter else None
    limit, first = _number(builder, block, "limit", at, 50), _number(builder, block, "firstPage", at, 1)
    if style == "offset":
        offset = builder.text(block, "offsetParameter", at) or "offset"
        limit_parameter = builder.text(block, "limitParameter", at) or "limit"
        return Pagination(style, items, None, offset, limit_parameter, limit, at=at)
    if style == "page":
        return Pagination(
            style, items, None, builder.text(block, "pageParameter", at) or "page", first_page=first, at=at
        )
    return Pagination(style, items, at=at) if style else None


def exposed_pages(builder: Builder, node: dict[str, Any], at: DocPath) -> int | None:
    """The most pages an exposed operation gathers (``pages: all``), or ``None``: one page."""
    if PAGINATION not in node:
        return None
    at = at + (PAGINATION,)
    builder.warning(at, not_official(PAGINATION, INSTEAD))
    block = builder.mapping(node[PAGINATION], at, f"'{PAGINATION}'")
    for key in block:
        if key not in ("pages", "maxPages"):
            builder.error(at + (key,), f"unknown key '{key}' in '{PAGINATION}'; allowed: pages, maxPages")
    pages = block.get("pages", "one")
    if pages not in ("all", "one"):
        builder.error(at + ("pages",), f"pages must be 'all' or 'one', got {pages!r}")
        return None
    most = _number(builder, block, "maxPages", at, DEFAULT_MAX_PAGES)
    if most > MAX_PAGES:
        builder.warning(at + ("maxPages",), f"maxPages {most} is above this runtime's cap: {MAX_PAGES} used")
    return min(most, MAX_PAGES) if pages == "all" else None


def _number(builder: Builder, block: dict[str, Any], key: str, at: DocPath, default: int) -> int:
    value = block.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or (value == 0 and key != "firstPage"):
        builder.error(at + (key,), f"{key} must be a positive integer, got {value!r}")
        return default
    return value
