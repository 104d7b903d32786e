"""The dialects a capability file may be written in, and their translation up into the native one (D70, D125).

- ``ikanos:`` 1.0.0-beta4 and 1.0.0-beta5 (the engine renamed; identical schemas but the version)
  are the model's native form: the builder reads their data as written. Maps keyed by name hold
  resources, operations, tools, parameters...; ``display`` names a thing for people; step mappings
  say ``target``; aggregates hold ``flows``; imports say ``from``. Their shape check is ``schema``
  with the ``IKANOS`` profile; for these documents the official schema is the only contract, so
  every violation is an error (D72).
- ``naftiko:`` 1.0.0-alpha2 (also alpha1 and 0.5; another version is read as alpha2 with a
  warning, D2) writes lists of objects carrying a ``name``, ``label``, ``targetName``,
  ``functions`` and ``location``. Its shape check is ``schema`` with the ``ALPHA2`` profile, on the
  file as written; violations are warnings (D3), so the published files keep loading as before.

``translate_up`` rewrites an alpha2 document into the native shape, in that one direction only
(``migrate`` starts from the same translation), and returns, for every place where a path changed,
the path it was written at (see ``documents.Document.origins``): a tool the user wrote at
``tools[0]`` is ``tools.get-ship`` for the builder, and that key's ``name`` is ``tools[0].name``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .diagnostics import DocPath, Finding
from .profiles import ALPHA2, PROFILES, Profile
from .schema import check_shape as shape_findings

NAFTIKO, IKANOS = "naftiko", "ikanos"


@dataclass(frozen=True)
class Dialect:
    """The root key a document starts with and the version it gives there."""

    key: str
    version: str

    @property
    def keyed_by_name(self) -> bool:
        """Whether resources, operations, tools, parameters... are maps keyed by name (beta4)."""
        return self.profile.keyed_by_name

    @property
    def root_sections(self) -> tuple[str, ...]:
        """The sections read at the root of a document, beside or instead of ``capability``."""
        return self.profile.root_sections

    @property
    def profile(self) -> Profile:
        """How this dialect spells the spec's shapes (an unknown naftiko version reads as alpha2, D2)."""
        return PROFILES.get(self.key, ALPHA2)


def detect(data: Any) -> Dialect:
    """``ikanos:`` makes a beta4 document; anything else is read as alpha2 (today's behaviour)."""
    if isinstance(data, dict) and IKANOS in data:
        return Dialect(IKANOS, str(data[IKANOS]))
    version = data.get(NAFTIKO) if isinstance(data, dict) else None
    return Dialect(NAFTIKO, "" if version is None else str(version))


def check_shape(data: Any, dialect: Dialect) -> list[Finding]:
    """The dialect's shape check: warnings where its extensions are tolerated (alpha2, D3), errors
    where the official schema is the only contract (beta4, beta5: D72)."""
    finding = Finding.warning if dialect.profile.extensions else Finding.error
    return [finding(f.path, f.message) for f in shape_findings(data, dialect.profile)]


def translate_up(data: Any, dialect: Dialect) -> tuple[Any, dict[DocPath, DocPath]]:
    """The native (beta4) shape of ``data``, and native path -> written path where they differ.
    A native document is returned as it is: the builder reads what the user wrote."""
    if dialect.keyed_by_name:
        return data, {}
    origins: dict[DocPath, DocPath] = {}
    return DOCUMENT(origins, data, (), ()), origins


# -- the alpha2 -> native rules -----------------------------------------------------------------------
# A rule takes (origins, value, native path, written path) and returns the native value, recording
# in ``origins`` every path it changes. Values of an unexpected type are returned as they are: the
# shape check (on the file as written) reports them, and the builder refuses what it cannot read.

Rule = Callable[[dict[DocPath, DocPath], Any, DocPath, DocPath], Any]


def _as_is(origins: dict[DocPath, DocPath], value: Any, native: DocPath, written: DocPath) -> Any:
    return value


def obj(renames: dict[str, str] | None = None, /, **children: Rule) -> Rule:
    """An object whose keys ``renames`` renames and whose ``children`` (by written key) are translated."""
    renamed = renames or {}

    def rule(origins: dict[DocPath, DocPath], value: Any, native: DocPath, written: DocPath) -> Any:
        if not isinstance(value, dict):
            return value
        out = {}
        for key, child in value.items():
            new_key = renamed.get(key, key) if isinstance(key, str) and renamed.get(key) not in value else key
            if new_key != key:
                origins[native + (new_key,)] = written + (key,)
            apply = children.get(key) if isinstance(key, str) else None
            out[new_key] = apply(origins, child, native + (new_key,), written + (key,)) if apply else child
        return out

    return rule


def each(item: Rule) -> Rule:
    """A list (the same in both dialects) whose items are translated."""

    def rule(origins: dict[DocPath, DocPath], value: Any, native: DocPath, written: DocPath) -> Any:
        if not isinstance(value, list):
            return value
        return [item(origins, child, native + (i,), written + (i,)) for i, child in enumerate(value)]

    return rule


def keyable(value: list[Any]) -> bool:
    """Whether every entry is an object carrying its own name, each name once: then the list is
    the map keyed by those names. Otherwise (a name missing, repeated, not text; REST resources and
    operations, whose names are optional) it stays a list, and the builder reads each entry's
    ``name`` where it was written, with today's messages (D125)."""
    names = [item.get("name") if isinstance(item, dict) else None for item in value]
    return all(isinstance(n, str) for n in names) and len(set(names)) == len(names)


def named(item: Rule = _as_is) -> Rule:
    """The alpha2 list of objects carrying a ``name`` -> the map keyed by that name."""
    as_list = each(item)

    def rule(origins: dict[DocPath, DocPath], value: Any, native: DocPath, written: DocPath) -> Any:
        if not isinstance(value, list) or not keyable(value):
            return as_list(origins, value, native, written)
        out = {}
        for index, child in enumerate(value):
            name = child["name"]
            n, w = native + (name,), written + (index,)
            origins[n], origins[n + ("name",)] = w, w + ("name",)
            out[name] = item(origins, {k: v for k, v in child.items() if k != "name"}, n, w)
        return out

    return rule


def by_type(rules: dict[str, Rule]) -> Rule:
    """An adapter, translated by its ``type``."""

    def rule(origins: dict[DocPath, DocPath], value: Any, native: DocPath, written: DocPath) -> Any:
        kind = value.get("type") if isinstance(value, dict) else None
        apply = rules.get(kind) if isinstance(kind, str) else None
        return apply(origins, value, native, written) if apply else value

    return rule


def imported(otherwise: Rule = _as_is) -> Rule:
    """A section entry: an import (``{location, import, as}`` -> ``{from, import, as}``) or ``otherwise``."""
    as_import = obj({"location": "from"})

    def rule(origins: dict[DocPath, DocPath], value: Any, native: DocPath, written: DocPath) -> Any:
        is_import = isinstance(value, dict) and "import" in value
        return (as_import if is_import else otherwise)(origins, value, native, written)

    return rule


LABEL = {"label": "display"}
MODES = {
    "steps": named(),
    "mappings": each(obj({"targetName": "target"})),
    "outputParameters": named(),
}
CONSUMED_OPERATION = obj(LABEL, inputParameters=named(), outputParameters=named())
CONSUMES = obj(
    inputParameters=named(),
    resources=named(obj(LABEL, inputParameters=named(), operations=named(CONSUMED_OPERATION))),
)
EXPOSED_OPERATION = obj(LABEL, inputParameters=named(), **MODES)
TOOL = obj(LABEL, inputParameters=named(), **MODES)
ADAPTER = by_type(
    {
        "rest": obj(
            inputParameters=named(),
            resources=named(obj(LABEL, inputParameters=named(), operations=named(EXPOSED_OPERATION))),
        ),
        "mcp": obj(
            tools=named(TOOL),
            resources=named(obj(LABEL, **MODES)),
            prompts=named(obj(LABEL, arguments=named(obj(LABEL)))),
        ),
        "skill": obj(skills=named(obj(tools=named()))),
    }
)
AGGREGATE = obj({**LABEL, "functions": "flows"}, functions=named(obj(inputParameters=named(), **MODES)))
SECTIONS = {
    "consumes": each(imported(CONSUMES)),
    "exposes": each(imported(ADAPTER)),
    "aggregates": each(imported(AGGREGATE)),
    "binds": each(imported()),
}
DOCUMENT = obj(info=obj(LABEL), capability=obj(**SECTIONS), **SECTIONS)
