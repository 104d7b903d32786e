"""HTML response bodies (the ``html`` extra: selectolax, Lexbor in C).

As the reference engine's jsoup converter: ``{tables: [[{header: cell, ...}, ...]]}``, one list of
row objects per table that has header cells, optionally scoped by the operation's
``outputSchema`` CSS selector.
"""

from __future__ import annotations

from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from . import Decode, FormatSetupError, guarded


def _text(node: LexborNode) -> str:
    """A cell's text with whitespace collapsed, as jsoup's ``text()`` gives it."""
    return " ".join((node.text(deep=True) or "").split())


def _cells(row: LexborNode) -> list[LexborNode]:
    return [child for child in row.iter() if child.tag in ("td", "th")]


def _table(table: LexborNode) -> list[dict[str, str]] | None:
    header_cells = table.css("thead tr:first-child th") or table.css("tr:first-child th")
    headers = [_text(cell) for cell in header_cells]
    if not any(headers):
        return None
    rows = table.css("tbody tr") or table.css("tr")[1:]
    result = []
    for row in rows:
        cells = _cells(row)
        if not cells or all(cell.tag == "th" for cell in cells):
            continue  # a header row written without <thead>
        values = [_text(cell) for cell in cells]
        result.append({header: values[i] if i < len(values) else "" for i, header in enumerate(headers)})
    return result


def html_decoder(selector: str | None) -> Decode:
    """``outputSchema`` scopes the tables: a selected table, or the tables inside a selected element.
    The selector is tried once here, so that a bad one is a load-time error at its line."""
    if selector is not None:
        try:
            LexborHTMLParser("<table></table>").css(selector)
        except SelectolaxError as exc:
            raise FormatSetupError(f"outputSchema '{selector}' is not a CSS selector this runtime can use") from exc

    def decode(body: bytes) -> Any:
        document = LexborHTMLParser(body.decode("utf-8", errors="replace"))
        if selector is None:
            scoped = document.css("table")
        else:
            scoped = []
            for element in document.css(selector):
                scoped.extend([element] if element.tag == "table" else element.css("table"))
        tables = [table for table in map(_table, scoped) if table is not None]
        return {"tables": tables}

    return guarded(decode)
