"""XML response bodies.

XML is parsed by ``defusedxml``: a document that declares an entity (the billion-laughs bomb) or
refers to an external one (XXE) is refused before anything is expanded or fetched. The tree
follows Jackson's ``XmlMapper.readTree``, the reference engine's converter: the root element's
name is dropped, attributes and child elements become fields by local name, repeated elements
become a list, a leaf is its text, and text beside children is kept under the key ``""``.
"""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from . import DecodeError, guarded


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
