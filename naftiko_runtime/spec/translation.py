"""The translation of an alpha2 document up into the native (beta4) shape, in one direction (D70, D125).

One table of rules says where the dialects differ: a list of objects carrying a ``name`` is a map
keyed by that name, ``label`` is ``display``, ``targetName`` is ``target``, an aggregate's
``functions`` are ``flows``, an import's ``location`` is ``from``. Two callers run it:

- the load path (``dialects.translate_up``) on the decoded file, into new plain containers (the
  file as written stays for its shape check and positions), recording in ``origins`` the written
  path of every native path that changed; a list it cannot key (a name missing, repeated, not
  text) stays a list, read as written (D125);
- ``naftiko migrate`` on ruamel's round-trip containers, which keep their comments, flow style
  and key order (the comment of an entry's ``name`` moves to its key); there every list is keyed,
  the names beta4 cannot hold made into keys it can (D126).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import field
from typing import Any

from ..records import dataclass
from .diagnostics import DocPath


@dataclass
class Translation:
    """One run of the rules: where paths changed, and whether it writes a file (``migrate``)."""

    origins: dict[DocPath, DocPath] = field(default_factory=dict)
    """Native path -> written path, for every path that changed."""
    migrating: bool = False
    """Key every list, with keys beta4 allows (D126), instead of leaving the unkeyable as written."""
    new_map: Callable[[], dict[Any, Any]] = dict
    """The mapping a keyed list becomes (``migrate``: ruamel's, which carries comments)."""


Rule = Callable[[Translation, Any, DocPath, DocPath], Any]
"""(translation, value, native path, written path) -> the native value. Values of an unexpected
type are returned as they are: the shape check (on the file as written) reports them, and the
builder refuses what it cannot read."""
KeyOf = Callable[[dict[str, Any]], str]


def kebab(text: str) -> str:
    """A name as a beta4 key: ``_`` and other characters its keys refuse become ``-`` (D3, D126)."""
    return re.sub(r"[^A-Za-z0-9-]+", "-", text).strip("-") or "x"


def _as_is(translation: Translation, value: Any, native: DocPath, written: DocPath) -> Any:
    return value


def _carry_layout(old: Any, new: Any, keys: dict[Any, Any]) -> None:
    """Round-trip containers only: ``new`` takes ``old``'s comments (under ``keys``' new names) and flow style."""
    comments = getattr(old, "ca", None)
    if comments is None or not hasattr(new, "ca"):
        return
    new.ca.comment = comments.comment
    new.ca.items.update({keys[k]: c for k, c in comments.items.items() if k in keys})
    if old.fa.flow_style():
        new.fa.set_flow_style()


def obj(renames: dict[str, str] | None = None, /, **children: Rule) -> Rule:
    """An object whose keys ``renames`` renames and whose ``children`` (by written key) are translated."""
    renamed = renames or {}

    def rule(translation: Translation, value: Any, native: DocPath, written: DocPath) -> Any:
        if not isinstance(value, dict):
            return value
        out, keys = type(value)(), {}
        for key, child in value.items():
            new_key = renamed.get(key, key) if isinstance(key, str) and renamed.get(key) not in value else key
            if new_key != key:
                translation.origins[native + (new_key,)] = written + (key,)
            apply = children.get(key) if isinstance(key, str) else None
            out[new_key] = apply(translation, child, native + (new_key,), written + (key,)) if apply else child
            keys[key] = new_key
        _carry_layout(value, out, keys)
        return out

    return rule


def each(item: Rule) -> Rule:
    """A list (the same in both dialects) whose items are translated (in place for ``migrate``)."""

    def rule(translation: Translation, value: Any, native: DocPath, written: DocPath) -> Any:
        if not isinstance(value, list):
            return value
        out = value if translation.migrating else []
        for i, child in enumerate(list(value)):
            translated = item(translation, child, native + (i,), written + (i,))
            if translation.migrating:
                out[i] = translated
            else:
                out.append(translated)
        return out

    return rule


def keyable(value: list[Any]) -> bool:
    """Whether every entry is an object carrying its own name, each name once: then the list is
    the map keyed by those names. Otherwise (a name missing, repeated, not text; REST resources and
    operations, whose names are optional) the load path leaves it a list, and the builder reads
    each entry's ``name`` where it was written, with the messages it always gave (D125)."""
    names = [item.get("name") if isinstance(item, dict) else None for item in value]
    return all(isinstance(n, str) for n in names) and len(set(names)) == len(names)


def named(item: Rule = _as_is, *, unnamed: KeyOf | None = None, beta4_key: bool = False, migrated: bool = True) -> Rule:
    """The alpha2 list of objects carrying a ``name`` -> the map keyed by that name. ``migrate``
    keys every entry: ``beta4_key`` makes a name a key beta4 allows, ``unnamed`` keys an entry
    without a name (D126), and a repeated key gets the entry's index; where ``migrated`` is false,
    ``migrate``'s own rewrites decide (outputs: D40-D44)."""
    as_list = each(item)

    def key_of(entry: Any, index: int) -> str:
        name = entry.get("name") if isinstance(entry, dict) else None
        if name is None:
            return unnamed(entry) if unnamed and isinstance(entry, dict) else f"item-{index + 1}"
        return kebab(str(name)) if beta4_key else str(name)

    def rule(translation: Translation, value: Any, native: DocPath, written: DocPath) -> Any:
        if not isinstance(value, list) or not (migrated if translation.migrating else keyable(value)):
            return as_list(translation, value, native, written)
        out: Any = translation.new_map()
        name_comments = {}
        """Round-trip containers: the comment of an entry's ``name``, for its key."""
        for index, child in enumerate(value):
            key = key_of(child, index) if translation.migrating else child["name"]
            while key in out:
                key = f"{key}-{index}"
            n, w = native + (key,), written + (index,)
            translation.origins[n], translation.origins[n + ("name",)] = w, w + ("name",)
            entry = child
            if isinstance(child, dict) and "name" in child:
                entry = type(child)()
                entry.update((k, v) for k, v in child.items() if k != "name")
                _carry_layout(child, entry, {k: k for k in child if k != "name"})
                if hasattr(child, "ca") and (comment := child.ca.items.get("name")):
                    name_comments[key] = comment
            out[key] = item(translation, entry, n, w)
        _carry_layout(value, out, {})
        if name_comments:
            out.ca.items.update(name_comments)
        return out

    return rule


def by_type(rules: dict[str, Rule]) -> Rule:
    """An adapter, translated by its ``type``."""

    def rule(translation: Translation, value: Any, native: DocPath, written: DocPath) -> Any:
        kind = value.get("type") if isinstance(value, dict) else None
        apply = rules.get(kind) if isinstance(kind, str) else None
        return apply(translation, value, native, written) if apply else value

    return rule


def imported(otherwise: Rule = _as_is) -> Rule:
    """A section entry: an import (``{location, import, as}`` -> ``{from, import, as}``) or ``otherwise``."""
    as_import = obj({"location": "from"})

    def rule(translation: Translation, value: Any, native: DocPath, written: DocPath) -> Any:
        is_import = isinstance(value, dict) and "import" in value
        return (as_import if is_import else otherwise)(translation, value, native, written)

    return rule


def _rest_operation_key(operation: dict[str, Any]) -> str:
    return str(operation.get("method", "get")).lower()


def _rest_resource_key(resource: dict[str, Any]) -> str:
    return kebab(str(resource.get("path", "")))


LABEL = {"label": "display"}
MODES = {
    "steps": named(),
    "mappings": each(obj({"targetName": "target"})),
    "outputParameters": named(migrated=False),
}
CONSUMED_OPERATION = obj(LABEL, inputParameters=named(), outputParameters=named())
CONSUMES = obj(
    inputParameters=named(),
    resources=named(
        obj(LABEL, inputParameters=named(), operations=named(CONSUMED_OPERATION, beta4_key=True)), beta4_key=True
    ),
)
EXPOSED_OPERATION = obj(LABEL, inputParameters=named(), **MODES)
REST_RESOURCE = obj(
    LABEL, inputParameters=named(), operations=named(EXPOSED_OPERATION, unnamed=_rest_operation_key, beta4_key=True)
)
ADAPTER_RULES: dict[str, Rule] = {
    "rest": obj(resources=named(REST_RESOURCE, unnamed=_rest_resource_key, beta4_key=True)),
    "mcp": obj(
        tools=named(EXPOSED_OPERATION),
        resources=named(obj(LABEL, **MODES)),
        prompts=named(obj(LABEL, arguments=named(obj(LABEL)))),
    ),
    "skill": obj(skills=named(obj(tools=named()))),
}
"""An ``exposes`` entry's rule by its ``type``; a kind whose alpha2 form writes named lists adds
its own with ``register_adapter_rule`` (a kind without one is read as written)."""
ADAPTER = by_type(ADAPTER_RULES)


def register_adapter_rule(kind: str, rule: Rule) -> None:
    """How an adapter kind's alpha2 ``exposes`` entry reads natively, e.g.
    ``obj(skills=named(...))``: its named lists keyed by name, its ``label`` a ``display``."""
    ADAPTER_RULES[kind] = rule


AGGREGATE = obj({**LABEL, "functions": "flows"}, functions=named(obj(inputParameters=named(), **MODES)))
SECTIONS = {
    "consumes": each(imported(CONSUMES)),
    "exposes": each(imported(ADAPTER)),
    "aggregates": each(imported(AGGREGATE)),
    "binds": each(imported()),
}
DOCUMENT = obj(info=obj(LABEL), capability=obj(**SECTIONS), **SECTIONS)
"""A capability document, from its root."""
