"""Reading capability files: fast parsing, positions only when a message needs them (D1).

The document is parsed once: a plain one straight from the C parser's events (``plain_yaml``,
D138), any other with ruamel.yaml's C-accelerated safe loader. Positions are
needed only to print a diagnostic; then the parser's events are walked down the finding's document
path as far as the node (``positions``, D153), and past a file's first few findings the file is
composed a second time, by the same C parser, into its node tree, whose keys and items carry their
line and column. (The round-trip loader keeps positions too, but in pure Python: on
a 19 kB Polytomic file it takes ~90 ms against ~6 ms, and a file with one warning paid it at every
start.)
"""

from __future__ import annotations

import io
from dataclasses import field
from pathlib import Path
from typing import Any

from _ruamel_yaml import CParser
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import VersionedResolver

from ..records import dataclass
from .diagnostics import Diagnostic, DocPath, Finding, Severity
from .plain_yaml import plain_load
from .positions import event_position

WALKS_BEFORE_TREE = 4
"""Findings of one file located by walking its events; past them the file's node tree is built
once and answers the rest (a file with many findings walks no more than a tree's cost)."""
MAX_FILE_BYTES = 8 * 1024 * 1024
"""Capability files are hand-written or generated specs; anything larger is refused unread."""
MAX_DEPTH = 128
"""Nesting deeper than this is refused before composing: the C composer recurses and overflows
the C stack (a segfault) at some 10,000 levels, and the checks after it walk the tree too."""
MAX_EXPANDED_NODES = 1_000_000
"""Nodes the document would have with every alias expanded (a published file has a few
thousand); beyond this it is an alias bomb that every later walk of the tree would pay for."""


class SourceError(Exception):
    """The file cannot be read or parsed; carries one positioned diagnostic."""

    def __init__(self, diagnostic: Diagnostic):
        self.diagnostic = diagnostic
        super().__init__(str(diagnostic))


@dataclass
class SourceDocument:
    """A parsed capability file: its decoded data, and positions on demand."""

    path: Path
    text: str
    data: Any
    _positions: Node | None = field(default=None, repr=False)
    _walks: int = field(default=0, repr=False)

    @property
    def name(self) -> str:
        return str(self.path)

    def diagnostic(self, finding: Finding) -> Diagnostic:
        line, column = self.position(finding.at)
        return Diagnostic(self.name, line, column, finding.severity, finding.message)

    def position(self, at: DocPath) -> tuple[int, int]:
        """1-based line and column of the deepest node of ``at`` that exists in the file: from the
        parser's events for a file's first few findings (D153), from its node tree beyond."""
        if self._positions is None and self._walks < WALKS_BEFORE_TREE:
            self._walks += 1
            found = event_position(self.text, at)
            if found is not None:
                return found
        if self._positions is None:
            try:
                self._positions = _safe_yaml().compose(io.StringIO(self.text))
            except YAMLError:
                return 1, 1
        node, line, column = self._positions, 0, 0
        for part in at:
            located = _child_position(node, part)
            if located is None:
                break
            node, line, column = located
        return line + 1, column + 1


def _child_position(node: Node, part: str | int) -> tuple[Node, int, int] | None:
    """The child of ``node`` that ``part`` names, and where it starts: a key's own position (where
    a message about the key or its value points), an item's start."""
    if isinstance(node, MappingNode):
        name = part if isinstance(part, str) else str(part)
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.value == name:
                return value, key.start_mark.line, key.start_mark.column
        return None
    if isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        item = node.value[part]
        return item, item.start_mark.line, item.start_mark.column
    return None


class _Yaml12Resolver(VersionedResolver):
    """Capability files are YAML 1.2 (D1). ruamel looks the version, and then its resolvers, up
    again for every scalar, through two caught AttributeErrors under the C parser: fixing it halves
    the parse time."""

    @property
    def processing_version(self) -> tuple[int, int]:
        return (1, 2)

    @property
    def versioned_resolver(self) -> Any:
        """The 1.2 implicit resolvers, looked up once per parse instead of twice per scalar."""
        resolvers = self.__dict__.get("_resolvers_1_2")
        if resolvers is None:
            resolvers = self.__dict__["_resolvers_1_2"] = super().versioned_resolver
        return resolvers


def _safe_yaml() -> YAML:
    yaml = YAML(typ="safe", pure=False)
    yaml.Resolver = _Yaml12Resolver
    yaml.allow_duplicate_keys = False
    return yaml


def read_source(path: Path) -> SourceDocument:
    """Read and parse one file; any failure is a ``SourceError`` with ``file:line:col``."""
    return parse_bytes(read_bytes(path), path)


def read_bytes(path: Path) -> bytes:
    """The file's bytes, as ``parse_bytes`` takes them (the load cache keys an entry by them)."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SourceError(Diagnostic(str(path), 1, 1, Severity.ERROR, f"cannot read file: {exc.strerror}")) from exc


def decode_text(raw: bytes, path: Path) -> str:
    """A capability file's text: UTF-8 (a BOM allowed) within ``MAX_FILE_BYTES``, else a ``SourceError``."""
    name = str(path)
    if len(raw) > MAX_FILE_BYTES:
        raise SourceError(
            Diagnostic(
                name,
                1,
                1,
                Severity.ERROR,
                f"file is {len(raw)} bytes; capability files are limited to {MAX_FILE_BYTES}",
            )
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SourceError(
            Diagnostic(
                name, line, column, Severity.ERROR, f"file is not UTF-8: byte 0x{raw[exc.start]:02x} cannot be decoded"
            )
        ) from exc
    return text


def parse_bytes(raw: bytes, path: Path) -> SourceDocument:
    return parse_text(decode_text(raw, path), path)


def _check_depth(text: str, path: Path) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH`` from the event stream, which is not recursive."""
    parser, depth = CParser(text), 0
    while (event := parser.get_event()) is not None:
        kind = type(event).__name__
        if kind in ("SequenceStartEvent", "MappingStartEvent"):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                raise SourceError(
                    Diagnostic(
                        str(path),
                        mark.line + 1,
                        mark.column + 1,
                        Severity.ERROR,
                        f"nesting deeper than {MAX_DEPTH} levels",
                    )
                )
        elif kind in ("SequenceEndEvent", "MappingEndEvent"):
            depth -= 1
        elif kind == "StreamEndEvent":
            return


def _alias_problem(data: Any) -> tuple[DocPath, str] | None:
    """Where the document refers to itself, or expands past ``MAX_EXPANDED_NODES`` through aliases.

    Sizes are memoized per object, so an aliased subtree is counted once: linear in the file.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[Any, DocPath, bool]] = [(data, (), False)]
    while stack:
        node, at, done = stack.pop()
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else None
        if children is None or (not done and id(node) in sizes):
            continue
        if done:
            open_nodes.discard(id(node))
            sizes[id(node)] = size = 1 + sum(sizes.get(id(child), 1) for _, child in children)
            if size > MAX_EXPANDED_NODES:
                return at, f"aliases expand the document past {MAX_EXPANDED_NODES:,} nodes"
            continue
        if id(node) in open_nodes:
            return at, "an alias refers to a node that contains it (a recursive document)"
        open_nodes.add(id(node))
        stack.append((node, at, True))
        stack.extend((child, at + (key,), False) for key, child in children)
    return None


def parse_text(text: str, path: Path) -> SourceDocument:
    """Parse YAML text already in memory (conformance cases carry capabilities inline).

    A plain document is built straight from the parser's events (D138); any other, and any error,
    takes the full loader with its depth, alias and duplicate-key checks."""
    plain = plain_load(text, MAX_DEPTH, MAX_EXPANDED_NODES)
    if plain is not None:
        return SourceDocument(path, text, plain[0])
    try:
        _check_depth(text, path)
        data = _safe_yaml().load(io.StringIO(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = " ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
        raise SourceError(Diagnostic(str(path), line, column, Severity.ERROR, f"invalid YAML: {problem}")) from exc
    except (YAMLError, RecursionError, ValueError) as exc:
        raise SourceError(Diagnostic(str(path), 1, 1, Severity.ERROR, f"invalid YAML: {exc}")) from exc
    document = SourceDocument(path, text, data)
    alias = _alias_problem(data)
    if alias is not None:
        at, message = alias
        raise SourceError(document.diagnostic(Finding.error(at, message)))
    return document
