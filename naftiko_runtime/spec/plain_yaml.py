"""The plain subset of YAML built straight from the C parser's events (issue 22, D138).

Loading a capability file with ruamel's safe loader composes a node tree in C, resolving every
scalar through a Python call, then walks that tree again in Python to build the values: ~9 ms for
a 19 kB Polytomic file, most of a start-up with many files. Capability files are almost always
plain YAML: mappings with scalar keys, sequences, untagged scalars, no anchors. For those, one
pass over the parser's events builds the same values in about a third of the time, with the same
YAML 1.2 resolution (ruamel's own implicit resolvers) and ruamel's own constructors for every
scalar that is not a string.

Anything outside that subset (a tag, an anchor or alias, a merge key, a key that is not a scalar,
a duplicate key, a directive, a second document, nesting or size past the limits) or any error makes
``plain_load`` give up with ``None``: the full loader then reads the file and decides, with its
checks and its positioned errors. So the result is either exactly what the safe loader builds or
no result at all; ``tests/unit/test_plain_yaml.py`` holds the two to that, file by file and by
property.
"""

from __future__ import annotations

from typing import Any

from _ruamel_yaml import CParser
from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.tag import Tag

STR_TAG = "tag:yaml.org,2002:str"
NODE_EVENTS = frozenset({"ScalarEvent", "MappingStartEvent", "SequenceStartEvent"})


class Unsupported(Exception):
    """The document is outside the plain subset: the full loader reads it."""


class _Yaml12Implicit(VersionedResolver):
    """ruamel's YAML 1.2 implicit resolvers, without a loader to ask the version of."""

    @property
    def processing_version(self) -> tuple[int, int]:
        return (1, 2)


def _loader() -> YAML:
    yaml = YAML(typ="safe", pure=False)
    yaml.Resolver = _Yaml12Implicit
    return yaml


_LOADER = _loader()
_RESOLVERS: dict[Any, list[tuple[str, Any]]] = _LOADER.resolver.versioned_resolver
_CONSTRUCTOR = _LOADER.constructor
"""Its scalar constructors ask the loader's resolver for the YAML version (1.2 here)."""


def _plain_scalar(value: str, start: Any, end: Any) -> Any:
    """An untagged plain scalar as the safe loader resolves and constructs it (YAML 1.2)."""
    for tag, pattern in _RESOLVERS.get(value[0] if value else "", ()):
        if pattern.match(value):
            if tag == STR_TAG:
                return value
            construct = SafeConstructor.yaml_constructors.get(tag)
            if construct is None:  # merge, value, yaml: the full loader has its own answer
                raise Unsupported(tag)
            return construct(_CONSTRUCTOR, ScalarNode(Tag(suffix=tag), value, start, end))
    return value


def _scalar(event: Any) -> Any:
    if event.anchor is not None or event.tag is not None:
        raise Unsupported("anchor or tag")
    if event.implicit[0]:
        return _plain_scalar(event.value, event.start_mark, event.end_mark)
    return event.value


def _events(text: str, max_depth: int, max_nodes: int) -> Any:
    """The document's values from its events; ``Unsupported`` outside the plain subset, or past
    ``max_nodes`` scalars and collections (keys included, so never fewer than the loader's count)."""
    parser = CParser(text)
    nodes = 0
    # Each open collection: [the container, the pending key (a mapping's), whether a key is pending].
    stack: list[list[Any]] = []
    root: Any = None
    documents = 0
    while (event := parser.get_event()) is not None:
        kind = type(event).__name__
        if kind in NODE_EVENTS:
            nodes += 1
            if nodes > max_nodes:
                raise Unsupported("size")
        if kind == "ScalarEvent":
            value = _scalar(event)
        elif kind in ("MappingStartEvent", "SequenceStartEvent"):
            if event.anchor is not None or event.tag is not None:
                raise Unsupported("anchor or tag")
            if len(stack) >= max_depth:
                raise Unsupported("depth")
            stack.append([{} if kind == "MappingStartEvent" else [], None, False])
            continue
        elif kind in ("MappingEndEvent", "SequenceEndEvent"):
            value = stack.pop()[0]
        elif kind == "DocumentStartEvent":
            documents += 1
            if documents > 1 or event.version is not None or event.tags:
                raise Unsupported("directive or second document")
            continue
        elif kind in ("StreamStartEvent", "DocumentEndEvent", "StreamEndEvent"):
            continue
        else:  # AliasEvent
            raise Unsupported(kind)
        if not stack:
            root = value
            continue
        top = stack[-1]
        container = top[0]
        if isinstance(container, list):
            container.append(value)
        elif not top[2]:
            if isinstance(value, (dict, list)) or value in container:
                raise Unsupported("complex or duplicate key")
            top[1], top[2] = value, True
        else:
            container[top[1]] = value
            top[1], top[2] = None, False
    if documents != 1:
        raise Unsupported("no document")
    return root


def plain_load(text: str, max_depth: int, max_nodes: int) -> tuple[Any] | None:
    """``(data,)`` exactly as the safe YAML 1.2 loader builds it, or ``None`` when the document is
    outside the plain subset or has any error (the full loader then reads it)."""
    try:
        return (_events(text, max_depth, max_nodes),)
    except (Unsupported, YAMLError, ValueError, TypeError, OverflowError):
        return None
