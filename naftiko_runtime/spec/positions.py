"""Where a node of a capability file was written, read from the C parser's events (D153).

A diagnostic names a node by its document path; its line and column come from the file itself.
Composing the whole file into a node tree for that costs about as much as the load (~10 ms for a
Polytomic file), and every file with a warning paid it: with the API key unset, the first run of
the Polytomic files printed one warning per file and spent more on positions than on loading.
Walking the parser's events down the path costs only the events before the node, and stops there.

The answer is the one the node tree gives (``source.SourceDocument.position``): a mapping entry's
key position, a sequence item's start, the deepest node of the path the file has. Where the walk
would have to follow an alias, or the text does not parse, it gives up with ``None`` and the node
tree answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from _ruamel_yaml import CParser
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceStartEvent,
    StreamStartEvent,
)

from .diagnostics import DocPath


class _GiveUp(Exception):
    """The walk cannot answer as the node tree would: an alias on the way."""


def _skip(event: Any, get_event: Callable[[], Any]) -> None:
    """Past the node that ``event`` starts."""
    depth = 1 if isinstance(event, CollectionStartEvent) else 0
    while depth:
        event = get_event()
        if event is None:
            raise _GiveUp
        if isinstance(event, CollectionStartEvent):
            depth += 1
        elif isinstance(event, CollectionEndEvent):
            depth -= 1


def _entry_value(name: str, get_event: Callable[[], Any]) -> tuple[Any, Any] | None:
    """In a mapping just opened: the key ``name``'s event and its value's first event."""
    while not isinstance(key := get_event(), CollectionEndEvent):
        if isinstance(key, ScalarEvent) and key.value == name:
            return key, get_event()
        _skip(key, get_event)
        _skip(get_event(), get_event)
    return None


def _item(index: int, get_event: Callable[[], Any]) -> Any | None:
    """In a sequence just opened: the first event of item ``index``."""
    for _ in range(index):
        item = get_event()
        if isinstance(item, CollectionEndEvent):
            return None
        _skip(item, get_event)
    item = get_event()
    return None if isinstance(item, CollectionEndEvent) else item


def _walk(get_event: Callable[[], Any], at: DocPath) -> tuple[int, int]:
    node = get_event()
    while isinstance(node, (StreamStartEvent, DocumentStartEvent)):
        node = get_event()
    line = column = 0
    for part in at:
        if isinstance(node, AliasEvent):
            raise _GiveUp
        if isinstance(node, MappingStartEvent):
            found = _entry_value(part if isinstance(part, str) else str(part), get_event)
            if found is None:
                break
            key, node = found
            line, column = key.start_mark.line, key.start_mark.column
        elif isinstance(node, SequenceStartEvent) and isinstance(part, int) and part >= 0:
            node = _item(part, get_event)
            if node is None:
                break
            line, column = node.start_mark.line, node.start_mark.column
        else:
            break
    return line + 1, column + 1


def event_position(text: str, at: DocPath) -> tuple[int, int] | None:
    """1-based line and column of the deepest node of ``at`` that ``text`` has, or ``None`` when
    only the node tree can tell (an alias on the way, or text that does not parse)."""
    try:
        return _walk(CParser(text).get_event, at)
    except (_GiveUp, YAMLError):
        return None
