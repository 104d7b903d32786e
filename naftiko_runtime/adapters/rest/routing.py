"""REST route table: a segment trie where a literal beats a placeholder (CONTRACT D32a).

Matching walks one trie level per path segment, so its cost depends on the depth of the path,
never on how many routes are loaded or in which order files declared them. Paths are matched
on their raw (still percent-encoded) form and split on ``/`` before decoding, so that an
encoded ``%2F`` stays inside one segment value (D15).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import field
from functools import lru_cache
from typing import Generic, TypeVar
from urllib.parse import unquote

from ...records import dataclass
from ...spec.expressions import PLACEHOLDER

Target = TypeVar("Target")


class RouteConflict(Exception):
    """Two routes with the same method and the same path shape (placeholder names ignored)."""

    def __init__(self, existing: object):
        self.existing = existing
        super().__init__("route already defined")


class PathTemplateError(ValueError):
    pass


@lru_cache(maxsize=1 << 15)
def split_template(path: str) -> tuple[tuple[str | None, ...], tuple[str | None, ...]]:
    """``/syncs/{id}`` -> shape ``("syncs", None)`` and placeholder names ``(None, "id")``.

    Kept for the next calls with the same path: a route's path is split when its file is read,
    again for its claim on the port and again for the route table, each a pass over every file
    (D184); room for every route of a few thousand files, ~100 bytes each."""
    segments = [s for s in path.strip().strip("/").split("/") if s != ""] if path.strip("/ ") else []
    shape: list[str | None] = []
    names: list[str | None] = []
    for segment in segments:
        match = PLACEHOLDER.fullmatch(segment)
        if match:
            shape.append(None)
            names.append(match.group(1))
        elif "{" in segment or "}" in segment:
            raise PathTemplateError(f"a placeholder must be a whole path segment: '{segment}' in '{path}'")
        else:
            shape.append(segment)
            names.append(None)
    return tuple(shape), tuple(names)


@dataclass
class _Node(Generic[Target]):
    literals: dict[str, _Node[Target]] = field(default_factory=dict)
    placeholder: _Node[Target] | None = None
    methods: dict[str, tuple[Target, tuple[str | None, ...]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Match(Generic[Target]):
    target: Target
    params: dict[str, str]


@dataclass(frozen=True)
class MethodNotAllowed:
    allowed: tuple[str, ...]


class RouteTable(Generic[Target]):
    def __init__(self) -> None:
        self._root: _Node[Target] = _Node()
        self._targets: list[Target] = []
        self._static: dict[str, _Node[Target]] = {}
        """The nodes of routes without placeholders, by their path: the most specific match of a
        path that equals one is that node, found in one lookup instead of a walk."""

    def add(self, method: str, path: str, target: Target) -> None:
        shape, names = split_template(path)
        node = self._root
        for segment in shape:
            if segment is None:
                node.placeholder = node.placeholder or _Node()
                node = node.placeholder
            else:
                # ``setdefault(segment, _Node())`` would make a node for every segment of every route.
                node = node.literals.get(segment) or node.literals.setdefault(segment, _Node())
        if method in node.methods:
            raise RouteConflict(node.methods[method][0])
        node.methods[method] = (target, names)
        self._targets.append(target)
        if None not in shape:
            self._static["/".join(segment for segment in shape if segment is not None)] = node

    def targets(self) -> list[Target]:
        """Every route's target, in the order they were added."""
        return list(self._targets)

    def match(self, method: str, raw_path: str) -> Match[Target] | MethodNotAllowed | None:
        """The most specific route with this method; else 405 with what the path allows."""
        stripped = raw_path.strip("/")
        static = self._static.get(stripped) if "%" not in stripped else None
        if static is not None:
            found = static.methods.get(method) or (static.methods.get("GET") if method == "HEAD" else None)
            if found:
                return Match(found[0], {})
        segments = stripped.split("/") if stripped else []
        allowed: set[str] = set()
        for node, values in self._candidates(self._root, segments, 0, ()):
            found = node.methods.get(method) or (node.methods.get("GET") if method == "HEAD" else None)
            if found:
                target, names = found
                # A named (placeholder) segment always has a value; a literal one has neither.
                params = {
                    # Invalid UTF-8 stays as its bytes (surrogates) so that %FF and %FE remain two
                    # values; the upstream request encodes them back byte for byte (D15).
                    name: unquote(value, errors="surrogateescape")
                    for name, value in zip(names, values, strict=True)
                    if name is not None and value is not None
                }
                return Match(target, params)
            allowed.update(node.methods)
        if allowed:
            return MethodNotAllowed(tuple(sorted(allowed)))
        return None

    def _candidates(
        self, node: _Node[Target], segments: list[str], index: int, values: tuple[str | None, ...]
    ) -> Iterator[tuple[_Node[Target], tuple[str | None, ...]]]:
        """Matching nodes in specificity order: at each depth the literal branch first."""
        if index == len(segments):
            if node.methods:
                yield node, values
            return
        segment = segments[index]
        literal = node.literals.get(unquote(segment)) if "%" in segment else node.literals.get(segment)
        if literal is not None:
            yield from self._candidates(literal, segments, index + 1, values + (None,))
        if node.placeholder is not None and segment:
            yield from self._candidates(node.placeholder, segments, index + 1, values + (segment,))
