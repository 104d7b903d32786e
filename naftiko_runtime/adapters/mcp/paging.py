"""``tools/list`` in a fixed order and in pages (MCP pagination, D110).

Tools are listed by name, so two gateways serving the same files list them alike whatever order
the files were loaded in. A cursor is the last name of the page before, encoded: it stays right
when a reload adds or removes tools (a page starts after that name, wherever it now is), and it
says nothing a client could use but to ask for the next page.
"""

from __future__ import annotations

import base64
import binascii
import bisect
from collections.abc import Sequence

CURSOR_PREFIX = "after:"


class BadCursor(ValueError):
    """A cursor this gateway did not hand out (MCP: -32602, invalid params)."""


def encode_cursor(name: str) -> str:
    return base64.urlsafe_b64encode((CURSOR_PREFIX + name).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadCursor(f"invalid cursor '{cursor[:40]}'") from exc
    if not text.startswith(CURSOR_PREFIX):
        raise BadCursor(f"invalid cursor '{cursor[:40]}'")
    return text[len(CURSOR_PREFIX) :]


def page(names: Sequence[str], cursor: str | None, size: int) -> tuple[slice, str | None]:
    """The slice of ``names`` (sorted) one page holds, and the next page's cursor (``None`` on the
    last page); ``size`` 0 is one page of everything."""
    start = 0 if cursor is None else bisect.bisect_right(names, decode_cursor(cursor))
    end = len(names) if size <= 0 else min(len(names), start + size)
    return slice(start, end), encode_cursor(names[end - 1]) if end < len(names) else None
