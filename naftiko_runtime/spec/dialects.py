"""The dialects a capability file may be written in, and their translation into one shape (D70).

- ``naftiko:`` 1.0.0-alpha2 (also alpha1 and 0.5; another version is read as alpha2 with a
  warning, D2) is the shape the builder reads. Its shape check is ``schema`` with the ``ALPHA2`` profile; violations are
  warnings (D3), so the published files keep loading exactly as before.
- ``ikanos:`` 1.0.0-beta4 and 1.0.0-beta5 (the engine renamed; identical schemas but the version).
  Maps keyed by name replace lists of objects carrying a ``name``; ``display`` replaces
  ``label``; step mappings say ``target``; aggregates hold ``flows``. Its shape check is
  ``schema`` with the ``IKANOS`` profile; for these documents the official schema is the only contract, so every
  violation is an error (D72).

``normalise`` rewrites a beta4 document into the alpha2 shape and returns, for every place where
a path changed, the path it came from (see ``documents.Document.origins``): a tool the user wrote
at ``tools.get-ship`` is ``tools[0]`` for the builder, and its ``name`` is that map key.
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


def normalise(data: Any, dialect: Dialect) -> tuple[Any, dict[DocPath, DocPath]]:
    """The builder's (alpha2) shape of ``data``, and normalised path -> written path where they differ."""
    if not dialect.keyed_by_name:
        return data, {}
    origins: dict[DocPath, DocPath] = {}
    return DOCUMENT(origins, data, (), ()), origins


# -- the beta4 -> alpha2 rules ------------------------------------------------------------------------
# A rule takes (origins, value, normalised path, written path) and returns the normalised value,
# recording in ``origins`` every path it changes. Values of an unexpected type are returned as
# they are: the shape check reports them, and the builder refuses what it cannot read.

Rule = Callable[[dict[DocPath, DocPath], Any, DocPath, DocPath], Any]


def _as_is(origins: dict[DocPath, DocPath], value: Any, norm: DocPath, orig: DocPath) -> Any:
    return value


def obj(renames: dict[str, str] | None = None, /, **children: Rule) -> Rule:
    """An object whose keys ``renames`` renames and whose ``children`` (by written key) are normalised."""
    renamed = renames or {}

    def rule(origins: dict[DocPath, DocPath], value: Any, norm: DocPath, orig: DocPath) -> Any:
        if not isinstance(value, dict):
            return value
        out = {}
        for key, child in value.items():
            new_key = renamed.get(key, key) if isinstance(key, str) else key
            if new_key != key:
                origins[norm + (new_key,)] = orig + (key,)
            apply = children.get(key) if isinstance(key, str) else None
            out[new_key] = apply(origins, child, norm + (new_key,), orig + (key,)) if apply else child
        return out

    return rule


def named(item: Rule = _as_is) -> Rule:
    """A map keyed by name -> the alpha2 list of objects carrying that ``name``."""

    def rule(origins: dict[DocPath, DocPath], value: Any, norm: DocPath, orig: DocPath) -> Any:
        if not isinstance(value, dict):
            return value
        out = []
        for index, (name, child) in enumerate(value.items()):
            n, o = norm + (index,), orig + (name,)
            origins[n] = origins[n + ("name",)] = o
            child = item(origins, child, n, o)
            out.append({**child, "name": name} if isinstance(child, dict) else child)
        return out

    return rule


def each(item: Rule) -> Rule:
    """A list (the same in both dialects) whose items are normalised."""

    def rule(origins: dict[DocPath, DocPath], value: Any, norm: DocPath, orig: DocPath) -> Any:
        if not isinstance(value, list):
            return value
        return [item(origins, child, norm + (i,), orig + (i,)) for i, child in enumerate(value)]

    return rule


def named_or_each(item: Rule = _as_is) -> Rule:
    """Output parameters: mapped ones stay a list; orchestrated and mock ones are keyed by name."""
    as_map, as_list = named(item), each(item)

    def rule(origins: dict[DocPath, DocPath], value: Any, norm: DocPath, orig: DocPath) -> Any:
        return (as_map if isinstance(value, dict) else as_list)(origins, value, norm, orig)

    return rule


def by_type(rules: dict[str, Rule]) -> Rule:
    """An adapter, normalised by its ``type``."""

    def rule(origins: dict[DocPath, DocPath], value: Any, norm: DocPath, orig: DocPath) -> Any:
        kind = value.get("type") if isinstance(value, dict) else None
        apply = rules.get(kind) if isinstance(kind, str) else None
        return apply(origins, value, norm, orig) if apply else value

    return rule


LABEL = {"display": "label"}
MODES = {
    "steps": named(),
    "mappings": each(obj({"target": "targetName"})),
    "outputParameters": named_or_each(),
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
        "rest": obj(resources=named(obj(LABEL, inputParameters=named(), operations=named(EXPOSED_OPERATION)))),
        "mcp": obj(
            tools=named(TOOL),
            resources=named(obj(LABEL, **MODES)),
            prompts=named(obj(LABEL, arguments=named(obj(LABEL)))),
        ),
        "skill": obj(skills=named(obj(tools=named()))),
    }
)
AGGREGATE = obj({**LABEL, "flows": "functions"}, flows=named(obj(inputParameters=named(), **MODES)))
SECTIONS = {"consumes": each(CONSUMES), "exposes": each(ADAPTER), "aggregates": each(AGGREGATE)}
DOCUMENT = obj({IKANOS: NAFTIKO}, info=obj(LABEL), capability=obj(**SECTIONS), **SECTIONS)
