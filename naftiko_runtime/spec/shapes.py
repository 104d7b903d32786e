"""JSON-shape combinators: the small engine under ``schema``'s model of the alpha2 spec.

``Obj``, ``Arr``, ``Str``, ``Num``, ``Map``, ``Switch`` (by a discriminating key), ``Alt`` (every
branch evaluated, so verdicts agree with ``oneOf``/``anyOf``) and ``Check`` (a custom rule) walk
plain decoded data and add ``ShapeFinding``s to a ``Context``, with messages that name the field
and, for unknown keys, suggest the closest allowed one. Depth and node budgets keep cyclic or
exploding (alias bomb) data from hanging the walk.
"""

from __future__ import annotations

import datetime
import difflib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import field
from typing import Any, NoReturn

from ..records import dataclass
from .jsontypes import json_type

PathElem = str | int
Path = tuple[PathElem, ...]

MAX_DEPTH = 64  # nesting levels checked; deeper (or cyclic, via YAML aliases) data is reported
MAX_NODES = 200_000  # containers visited; guards against alias "billion laughs" documents


@dataclass(frozen=True)
class ShapeFinding:
    """One violation: where (a path into the document) and what (a message naming the field).

    For a missing required key, ``path`` is the object that lacks it; for an unknown key, it is the
    key itself.
    """

    path: Path
    message: str


# --------------------------------------------------------------------------------------------
# Rendering helpers


def where_text(path: Path) -> str:
    """``("capability", "exposes", 0)`` -> ``capability.exposes[0]``."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "the document root"


def _subject(path: Path) -> str:
    """How a message names the value at ``path``: ``'port'`` or ``item 2 of 'tags'``."""
    if not path:
        return "the document"
    if isinstance(path[-1], str):
        return f"'{path[-1]}'"
    parent = next((p for p in reversed(path[:-1]) if isinstance(p, str)), None)
    return f"item {path[-1]} of '{parent}'" if parent else f"item {path[-1]}"


def show(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, dict):
        return "an object"
    if isinstance(v, (list, tuple)):
        return "a list"
    if isinstance(v, (int, float)):
        return repr(v)
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _did_you_mean(word: object, choices: Iterable[str]) -> str:
    if not isinstance(word, str):
        return ""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    match = lowered.get(word.lower()) or next(iter(difflib.get_close_matches(word, choices, 1, 0.6)), None)
    return f"; did you mean '{match}'?" if match else ""


def _key(k: object) -> PathElem:
    """A dict key as a path element (YAML allows non-string keys; keep str/int, show the rest)."""
    return k if isinstance(k, str) or (isinstance(k, int) and not isinstance(k, bool)) else repr(k)


def _schema_type(v: object) -> str:
    """JSON Schema's view: a float without a fraction is an integer too."""
    kind = json_type(v)
    return "integer" if kind == "number" and isinstance(v, float) and v.is_integer() else kind


# --------------------------------------------------------------------------------------------
# Checking context and combinators


@dataclass
class _Budget:
    """The walk state shared by a context and its scratch copies."""

    active: set[int] = field(default_factory=set)  # ids of the containers being walked (cycle guard)
    nodes: int = 0  # containers visited so far
    stopped: bool = False  # the node budget ran out (reported once)


class _Decided(Exception):
    """A verdict-only context got its first finding: the branch fails, and no more of it is walked."""


class Context:
    """Collects findings; the container stack and node budget are shared with scratch copies.

    A ``verdict_only`` context keeps no findings: the first one ends the check by ``_Decided``.
    An ``Alt`` checks the branches whose findings it can never report that way, so a valid
    document does not walk a whole branch it fails at its first key, nor format messages and
    did-you-mean suggestions nobody reads (a Polytomic file made nine, issue 22)."""

    def __init__(self, shared: _Budget | None = None, *, verdict_only: bool = False) -> None:
        self.findings: list[ShapeFinding] = []
        self.shared = shared if shared is not None else _Budget()
        self.verdict_only = verdict_only
        self.failed = False
        """A verdict-only context had a finding (kept even if a check swallowed ``_Decided``)."""

    def add(self, path: Path, message: str) -> None:
        if self.verdict_only:
            self.fail()
        self.findings.append(ShapeFinding(path, message))

    def fail(self) -> NoReturn:
        """A verdict-only context's check has failed: end it."""
        self.failed = True
        raise _Decided

    def scratch(self, *, verdict_only: bool = False) -> Context:
        return Context(self.shared, verdict_only=verdict_only or self.verdict_only)

    def walk(self, container: object, path: Path, children: Iterable[tuple[PathElem, object, Shape]]) -> None:
        """Check the children of one container, unless it is cyclic, too deep or over budget."""
        s = self.shared
        s.nodes += 1
        if id(container) in s.active:
            return self.add(path, f"{where_text(path)} contains itself (a recursive YAML alias); not checked further")
        if len(path) > MAX_DEPTH:
            return self.add(path, f"{where_text(path)} is nested deeper than {MAX_DEPTH} levels; not checked further")
        if s.nodes > MAX_NODES:
            if not s.stopped:
                s.stopped = True
                self.add(path, f"document too large to check (more than {MAX_NODES} nodes); stopped here")
            return
        s.active.add(id(container))
        try:
            for elem, value, shape in children:
                shape.check(value, path + (elem,), self)
        finally:
            s.active.discard(id(container))


class Shape:
    def check(self, v: object, path: Path, ctx: Context) -> None:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class Kinds(Shape):
    """A value of one of the given JSON types, not looked into (booleans, ``with`` values, body data)."""

    kinds: tuple[str, ...] = ("string", "number", "boolean", "object", "array", "null")

    def check(self, v: object, path: Path, ctx: Context) -> None:
        t = _schema_type(v)
        if t not in self.kinds and not (t == "integer" and "number" in self.kinds):
            ctx.add(path, f"{_subject(path)} must be {' or '.join(self.kinds)}, got {show(v)}")


@dataclass(frozen=True, eq=False)
class Str(Shape):
    pattern: str | None = None
    hint: str = ""  # what the pattern means, for humans
    enum: tuple[str, ...] | None = None
    const: str | None = None
    max_len: int | None = None
    min_len: int = 0
    dates: bool = False  # also accept datetime.date (unquoted YAML dates)

    def check(self, v: object, path: Path, ctx: Context) -> None:
        if self.dates and isinstance(v, datetime.date):
            return
        if self.const is not None and v != self.const:
            ctx.add(path, f"{_subject(path)} must be '{self.const}', got {show(v)}")
        elif self.enum is not None and (not isinstance(v, str) or v not in self.enum):
            message = f"{_subject(path)} must be one of {', '.join(self.enum)}, got {show(v)}"
            ctx.add(path, message + _did_you_mean(v, self.enum))
        elif not isinstance(v, str):
            ctx.add(path, f"{_subject(path)} must be a string, got {show(v)}")
        elif self.pattern and not _regex(self.pattern).search(v):
            hint = f" ({self.hint})" if self.hint else ""
            ctx.add(path, f"{_subject(path)} must match {self.pattern}{hint}, got {show(v)}")
        elif len(v) < self.min_len:
            ctx.add(path, f"{_subject(path)} must not be empty")
        elif self.max_len is not None and len(v) > self.max_len:
            ctx.add(path, f"{_subject(path)} must be at most {self.max_len} characters long, got {len(v)}")


_REGEX_CACHE: dict[str, re.Pattern[str]] = {}


def _regex(pattern: str) -> re.Pattern[str]:
    """Compile with ECMA-262 ``$`` (end of string only: Python's also matches before a final newline)."""
    if pattern not in _REGEX_CACHE:
        _REGEX_CACHE[pattern] = re.compile(pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern)
    return _REGEX_CACHE[pattern]


@dataclass(frozen=True, eq=False)
class Num(Shape):
    lo: float | None = None
    hi: float | None = None
    integer: bool = False

    def check(self, v: object, path: Path, ctx: Context) -> None:
        t = _schema_type(v)
        ok = t == "integer" or (t == "number" and not self.integer)  # so v is an int or a float
        if (
            ok
            and isinstance(v, (int, float))
            and (self.lo is None or v >= self.lo)
            and (self.hi is None or v <= self.hi)
        ):
            return
        kind = "an integer" if self.integer else "a number"
        if self.lo is not None and self.hi is not None:
            kind += f" between {self.lo} and {self.hi}"
        elif self.lo is not None:
            kind += f" >= {self.lo}"
        ctx.add(path, f"{_subject(path)} must be {kind}, got {show(v)}")


@dataclass(frozen=True, eq=False)
class Arr(Shape):
    items: Shape
    min_items: int = 0

    def check(self, v: object, path: Path, ctx: Context) -> None:
        if not isinstance(v, list):
            ctx.add(path, f"{_subject(path)} must be a list, got {show(v)}")
            return
        if len(v) < self.min_items:
            ctx.add(path, f"{_subject(path)} must have at least {self.min_items} item(s)")
        ctx.walk(v, path, ((i, item, self.items) for i, item in enumerate(v)))


@dataclass(frozen=True, eq=False)
class Map(Shape):
    """An object with free keys: ``binds[].keys``, output ``properties``, ``with``, ``metadata``, and
    the beta4 dialect's maps keyed by name (``tools``, ``resources``, ...)."""

    values: Shape
    keys: Str | None = None
    min_items: int = 0

    def check(self, v: object, path: Path, ctx: Context) -> None:
        if not isinstance(v, dict):
            ctx.add(path, f"{_subject(path)} must be an object, got {show(v)}")
            return
        if len(v) < self.min_items:
            ctx.add(path, f"{_subject(path)} must have at least {self.min_items} entry(ies)")
        if self.keys is not None:
            for k in v:
                if not (isinstance(k, str) and _regex(self.keys.pattern or "").search(k)):
                    ctx.add(
                        path + (_key(k),),
                        f"key {show(k)} in {where_text(path)} must match {self.keys.pattern} ({self.keys.hint})",
                    )
        ctx.walk(v, path, ((_key(k), item, self.values) for k, item in v.items()))


@dataclass(frozen=True, eq=False)
class Obj(Shape):
    """A closed object (``additionalProperties: false``) unless ``closed=False`` (a partial rule)."""

    label: str
    props: Mapping[str, Shape]
    required: tuple[str, ...] = ()
    rules: tuple[Shape, ...] = ()
    closed: bool = True
    forbid: Mapping[str, str] = field(default_factory=dict)

    def _where(self, path: Path) -> str:
        """How a message names the object: ``capability.exposes[0] (rest adapter)``."""
        named = self.label and not (path and self.label == path[-1])  # not "info (info)"
        return f"{where_text(path)} ({self.label})" if named else where_text(path)

    def check(self, v: object, path: Path, ctx: Context) -> None:
        # Every object of every file passes here: the message parts are made only for a finding.
        if not isinstance(v, dict):
            ctx.add(path, f"{_subject(path)} must be an object ({self.label}), got {show(v)}")
            return
        for k in v:
            forbidden = k in self.forbid
            if not forbidden and not (self.closed and not (isinstance(k, str) and k in self.props)):
                continue
            if ctx.verdict_only:
                ctx.fail()  # a branch's verdict: no message to format, nobody reads it
            if forbidden:
                ctx.add(path + (_key(k),), f"'{k}' is not allowed in {self._where(path)}: {self.forbid[k]}")
            else:
                allowed = sorted(self.props)
                ctx.add(
                    path + (_key(k),),
                    f"unknown key {show(k)} in {self._where(path)}; allowed: {', '.join(allowed)}"
                    + _did_you_mean(k, allowed),
                )
        for k in self.required:
            if k not in v:
                if ctx.verdict_only:
                    ctx.fail()
                ctx.add(path, f"missing required key '{k}' in {self._where(path)}")
        ctx.walk(
            v,
            path,
            (
                (k, item, self.props[k])
                for k, item in v.items()
                if isinstance(k, str) and k in self.props and k not in self.forbid
            ),
        )
        for rule in self.rules:  # rules look at this same object again (anyOf/oneOf branches)
            rule.check(v, path, ctx)


def Open(
    required: tuple[str, ...] = (), props: Mapping[str, Shape] | None = None, forbid: Mapping[str, str] | None = None
) -> Obj:
    """A partial constraint on an object already checked by its closed ``Obj`` (one ``anyOf`` branch)."""
    return Obj("", props or {}, required, closed=False, forbid=forbid or {})


@dataclass(frozen=True, eq=False)
class Switch(Shape):
    """``oneOf`` discriminated by a ``const`` key (``type``); a non-object may go to ``other``."""

    key: str
    cases: Mapping[str, Shape]
    what: str
    other: Shape | None = None
    registered: Mapping[str, Shape] = field(default_factory=dict)
    """Cases registered since (a plugin's step, authentication or adapter type): read at check time."""

    def check(self, v: object, path: Path, ctx: Context) -> None:
        if not isinstance(v, dict):
            if self.other is not None:
                return self.other.check(v, path, ctx)
            return ctx.add(path, f"{_subject(path)} must be an object ({self.what}), got {show(v)}")
        cases = {**self.cases, **self.registered} if self.registered else self.cases
        names = ", ".join(cases)
        t = v.get(self.key)
        if self.key not in v:
            ctx.add(path, f"missing required key '{self.key}' in {where_text(path)} ({self.what}); one of: {names}")
        elif not isinstance(t, str) or t not in cases:
            ctx.add(
                path + (self.key,),
                f"unsupported {self.what} {self.key} {show(t)} in {where_text(path)}; "
                f"supported: {names}" + _did_you_mean(t, cases),
            )
        else:
            cases[t].check(v, path, ctx)


@dataclass(frozen=True, eq=False)
class Alt(Shape):
    """``anyOf`` (or ``oneOf`` when ``exclusive``) with exact verdicts and a chosen explanation.

    Every branch is evaluated; if none passes, the findings of the branch ``choose`` picks (the one
    the author evidently meant) are reported, or ``missing`` when no branch is plausible.
    """

    branches: tuple[tuple[str, Shape], ...]
    choose: Callable[[dict[Any, Any]], int | None]
    missing: str = "{where} matches none of the allowed forms"
    exclusive: bool = False

    def check(self, v: object, path: Path, ctx: Context) -> None:
        idx = self.choose(v) if isinstance(v, dict) else 0
        # The branch the author evidently meant goes first: for ``anyOf`` a pass ends the search,
        # so a valid document pays for one branch, not for every branch's messages.
        order = ([idx] if idx is not None else []) + [i for i in range(len(self.branches)) if i != idx]
        # A branch's findings: None when it failed in a verdict-only context (only the chosen
        # branch's findings are ever reported; any other needs a verdict alone).
        results: dict[int, tuple[str, list[ShapeFinding] | None]] = {}
        for i in order:
            name, shape = self.branches[i]
            sub = ctx.scratch(verdict_only=i != idx)
            try:
                shape.check(v, path, sub)
            except _Decided:
                pass
            results[i] = (name, None if sub.failed else sub.findings)
            if results[i][1] == [] and not self.exclusive:
                return
        passing = [name for name, found in results.values() if found == []]
        if passing and (len(passing) == 1 or not self.exclusive):
            return
        if passing:
            return ctx.add(path, f"{where_text(path)} matches several forms ({', '.join(passing)}); use exactly one")
        if idx is None:
            return ctx.add(path, self.missing.format(where=where_text(path)))
        chosen = results[idx][1]
        if chosen is None:  # this context is itself verdict-only
            ctx.fail()
        ctx.findings.extend(chosen)


@dataclass(frozen=True, eq=False)
class Check(Shape):
    """An ad-hoc rule: ``fn(value, path)`` yields ``(path, message)`` pairs."""

    fn: Callable[[object, Path], Iterable[tuple[Path, str]]]

    def check(self, v: object, path: Path, ctx: Context) -> None:
        for p, message in self.fn(v, path):
            ctx.add(p, message)


@dataclass(frozen=True, eq=False)
class Ref(Shape):
    """A named shape looked up lazily in ``table``, for recursive definitions (output parameters)."""

    name: str
    table: Mapping[str, Shape]

    def check(self, v: object, path: Path, ctx: Context) -> None:
        self.table[self.name].check(v, path, ctx)


def exactly_one(*keys: str) -> Check:
    def rule(v: Any, path: Path) -> Iterator[tuple[Path, str]]:  # v: a decoded object, checked by its Obj
        present = [k for k in keys if k in v]
        if len(present) != 1:
            told = "has both" if present else "needs one of"
            yield path, f"{where_text(path)} {told} {' and '.join(repr(k) for k in (present or keys))}; use exactly one"

    return Check(rule)


def some_of(*keys: str, why: str = "") -> Check:
    def rule(v: Any, path: Path) -> Iterator[tuple[Path, str]]:  # v: a decoded object, checked by its Obj
        if not any(k in v for k in keys):
            yield path, f"{where_text(path)} needs {' or '.join(repr(k) for k in keys)}{why}"

    return Check(rule)
