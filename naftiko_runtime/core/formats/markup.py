"""XML and HTML response bodies.

XML is parsed by ``defusedxml``: a document that declares an entity (the billion-laughs bomb) or
refers to an external one (XXE) is refused before anything is expanded or fetched. The tree
follows Jackson's ``XmlMapper.readTree``, the reference engine's converter: the root element's
name is dropped, attributes and child elements become fields by local name, repeated elements
become a list, a leaf is its text, and text beside children is kept under the key ``""``.

HTML follows the reference engine's jsoup converter: ``{tables: [[{header: cell, ...}, ...]]}``,
one list of row objects per table that has header cells, optionally scoped by the operation's
``outputSchema`` CSS selector.
"""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from . import Decode, DecodeError, FormatSetupError, guarded


def _local(name: str) -> str:
    """``{namespace}name`` -> ``name``: Jackson reads elements and attributes by local name."""
    return name.rpartition("}")[2]


def _element(element: Element) -> Any:
    children = list(element)
    if not children and not element.attrib:
        return element.text or ""
    node: dict[str, Any] = {_local(k): v for k, v in element.attrib.items()}
    repeated: set[str] = set()
    texts = [element.text or ""]
    for child in children:
        key, value = _local(child.tag), _element(child)
        if key in repeated:
            node[key].append(value)
        elif key in node:
            node[key] = [node[key], value]
            repeated.add(key)
        else:
            node[key] = value
        texts.append(child.tail or "")
    text = "".join(texts).strip()
    if text:
        node[""] = text
    return node


def _xml(body: bytes) -> Any:
    try:
        root = fromstring(body, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise DecodeError(f"refused for safety: {exc}") from exc
    except (ParseError, ValueError) as exc:
        raise DecodeError(str(exc)) from exc
    return _element(root)


decode_xml = guarded(_xml)


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
