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
from ruamel.yaml.events import (
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.tag import Tag

STR_TAG = "tag:yaml.org,2002:str"
RESOLVED_MEMO_LIMIT = 1 << 16
"""Distinct plain scalars whose resolved value is remembered; past it the memo starts again empty."""


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
_RESOLVED: dict[str, Any] = {}
"""Plain scalar text -> its value, for every file of the process (D148): capability files repeat
the same keys and words (``name``, ``type``, ``GET``, ``true``...) thousands of times, and each
is otherwise matched against the resolvers of its first character again. Only immutable values
are here (strings, numbers, booleans, null, dates), so sharing one between documents is safe."""


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


def _resolved(value: str, start: Any, end: Any) -> Any:
    """``_plain_scalar`` through the process's memo."""
    resolved = _plain_scalar(value, start, end)
    if len(_RESOLVED) >= RESOLVED_MEMO_LIMIT:
        _RESOLVED.clear()
    _RESOLVED[value] = resolved
    return resolved


def _events(text: str, max_depth: int, max_nodes: int) -> Any:
    """The document's values from its events; ``Unsupported`` outside the plain subset, or past
    ``max_nodes`` scalars and collections (keys included, so never fewer than the loader's count).

    The loop runs once per event of every file (about 1,200 for a Polytomic file), so it is
    written for speed: events told apart by class, the scalar case first and inline, each plain
    scalar resolved once per process (``_RESOLVED``)."""
    get_event = CParser(text).get_event
    memo = _RESOLVED
    nodes = 0
    # Each open collection: [the container, the pending key (a mapping's), whether a key is pending].
    stack: list[list[Any]] = []
    root: Any = None
    documents = 0
    while (event := get_event()) is not None:
        kind = event.__class__
        if kind is ScalarEvent:
            nodes += 1
            if event.anchor is not None or event.ctag is not None:
                raise Unsupported("anchor or tag")
            value = event.value
            if event.implicit[0]:
                value = memo[value] if value in memo else _resolved(value, event.start_mark, event.end_mark)
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            nodes += 1
            if event.anchor is not None or event.ctag is not None:
                raise Unsupported("anchor or tag")
            if len(stack) >= max_depth:
                raise Unsupported("depth")
            if nodes > max_nodes:
                raise Unsupported("size")
            stack.append([{} if kind is MappingStartEvent else [], None, False])
            continue
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            value = stack.pop()[0]
        elif kind is DocumentStartEvent:
            documents += 1
            if documents > 1 or event.version is not None or event.tags:
                raise Unsupported("directive or second document")
            continue
        elif kind is StreamStartEvent or kind is DocumentEndEvent or kind is StreamEndEvent:
            continue
        else:  # AliasEvent
            raise Unsupported(kind.__name__)
        if nodes > max_nodes:
            raise Unsupported("size")
        if not stack:
            root = value
            continue
        top = stack[-1]
        container = top[0]
        if container.__class__ is list:
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
