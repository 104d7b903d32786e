"""Markdown response bodies (the ``markdown`` extra: markdown-it-py, CommonMark with GFM tables, so
that a code block is never read as a table).

As the reference engine's converter: ``{frontMatter, tables, sections}``, optionally scoped by the
operation's ``outputSchema`` heading prefix.
"""

from __future__ import annotations

from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from . import Decode, guarded
from .text import decode_yaml

_MARKDOWN = MarkdownIt("commonmark").enable("table")


def _split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """A leading ``---`` YAML block, as the reference engine reads it; anything but a mapping is
    ignored there too."""
    if not text.startswith("---\n"):
        return {}, text
    end = text.find("\n---\n", 4)
    if end < 0:
        return {}, text
    block, rest = text[4:end], text[end + 5 :]
    loaded = decode_yaml(block.encode()) if block.strip() else None
    return (loaded if isinstance(loaded, dict) else {}), rest


def _inline_text(token: Token) -> str:
    """Plain text of an inline token: markup dropped, link text kept, images dropped."""
    parts = []
    for child in token.children or ():
        if child.type in ("text", "code_inline", "html_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
    return "".join(parts)


def _table_rows(tokens: list[Token], start: int) -> tuple[list[dict[str, str]] | None, int]:
    """The table starting at ``tokens[start]`` as row objects, and the index after it. Cells keep
    their source text, as in the reference engine."""
    headers: list[str] = []
    rows: list[list[str]] = []
    in_head = False
    i = start
    while tokens[i].type != "table_close":
        token = tokens[i]
        if token.type == "thead_open":
            in_head = True
        elif token.type == "thead_close":
            in_head = False
        elif token.type == "tr_open" and not in_head:
            rows.append([])
        elif token.type == "inline":
            (headers if in_head else rows[-1]).append(token.content.strip())
        i += 1
    if not any(headers):
        return None, i + 1
    table = [{h: row[n] if n < len(row) else "" for n, h in enumerate(headers)} for row in rows]
    return table, i + 1


def _heading_matches(prefix: str, level: int, heading: str) -> bool:
    written = "#" * level + " " + heading
    return written.startswith(prefix) if prefix.startswith("#") else heading.startswith(prefix)


def markdown_decoder(prefix: str | None) -> Decode:
    """``outputSchema`` is a heading prefix (``## Results``): only the sections under a matching
    heading (and their subsections), and the tables inside them, are kept."""

    def decode(body: bytes) -> Any:
        text = body.decode("utf-8", errors="replace").replace("\r\n", "\n")
        front_matter, text = _split_front_matter(text)
        tokens = _MARKDOWN.parse(text)
        tables: list[list[dict[str, str]]] = []
        sections: list[dict[str, Any]] = []
        content: list[str] = []
        keep_below: int | None = None  # the level of the matching heading we are under
        kept = prefix is None
        i = 0
        while i < len(tokens):
            token = tokens[i]
            if token.type == "heading_open":
                level, heading = int(token.tag[1:]), tokens[i + 1].content.strip()
                if prefix is not None:
                    if keep_below is not None and level <= keep_below:
                        keep_below = None
                    if keep_below is None and _heading_matches(prefix, level, heading):
                        keep_below = level
                    kept = keep_below is not None
                if kept:
                    content = []
                    sections.append({"heading": heading, "level": level, "content": ""})
                i += 3
                continue
            if token.type == "table_open":
                table, i = _table_rows(tokens, i)
                if table is not None and kept:
                    tables.append(table)
                continue
            if kept and sections:
                if token.type == "inline":
                    content.append(_inline_text(token))
                elif token.type in ("fence", "code_block"):
                    content.append(token.content.rstrip("\n"))
                sections[-1]["content"] = "\n\n".join(part for part in content if part.strip())
            i += 1
        return {"frontMatter": front_matter, "tables": tables, "sections": sections}

    return guarded(decode)
