"""``naftiko migrate``: rewrite an alpha2 document into the Ikanos beta4 dialect (D70).

The load path's translation up (``translation``, D125) runs on ruamel.yaml's round-trip form, so
comments and key order stay where the library allows: a list of named objects becomes a map keyed
by their names (each object, with its comments, moves under its key; D126 for the keys),
``label`` becomes ``display``, ``functions`` become ``flows``, ``targetName`` becomes ``target``,
imports say ``from``. What alpha2 accepted as dialect
extensions (D3) and beta4 has no place for is carried over so that the file serves identically:

- consumed parameters' ``type``, ``description`` and ``required`` move to the exposed operations
  and tools that fill those parameters through ``with`` (beta4 consumed inputs carry ``in`` and
  ``value`` only); a REST input cannot say ``required`` in beta4, noted when it mattered;
- ``{type: object, mapping: $.}`` gains ``properties: {}`` (D40: still a pass-through), and a lone
  pass-through of another type is dropped (no outputs is a pass-through); an array without
  ``items`` gets pass-through items; named outputs (D44) become one object with those properties,
  and ``properties`` written under ``mapping`` (D42) move beside it;
- ``with`` literals that beta4 cannot hold: ``true``/``false`` become the text they are sent as
  (outside a body), ``null`` is dropped (it is never sent, D17);
- ``_`` in resource and operation names becomes ``-``, calls renamed with them;
- a REST adapter's ``description`` becomes a comment.

Anything that cannot be expressed is left as it is and reported in the notes.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Iterator
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .diagnostics import DocPath
from .expressions import WITH_REFERENCE, normalize_name
from .profiles import IKANOS
from .translation import DOCUMENT, Translation, kebab, named

TARGETS = IKANOS.versions
"""The versions `naftiko migrate --to` writes."""
ROOT_PATHS = ("$", "$.")
CREDENTIAL_HEADERS = {"bearer": "authorization", "basic": "authorization", "digest": "authorization"}
ADAPTER_ROOTS = {"rest": ("rest",), "mcp": ("tools", "mcp")}


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 120
    return yaml


def migrate_text(text: str, target: str = TARGETS[0]) -> tuple[str, list[str]]:
    """The beta4 text of an alpha2 document, and notes on what could not be carried over as is."""
    yaml = _yaml()
    document, notes = migrate_document(yaml.load(text), target)
    stream = io.StringIO()
    yaml.dump(document, stream)
    return stream.getvalue(), notes


def migrate_document(document: Any, target: str = TARGETS[0]) -> tuple[Any, list[str]]:
    """The beta4 form of a round-trip alpha2 document, and the notes."""
    if target not in TARGETS:
        raise ValueError(f"unknown target version {target!r}; known: {', '.join(TARGETS)}")
    if not isinstance(document, CommentedMap):
        return document, ["not a YAML mapping: left as it is"]
    if "ikanos" in document:
        return document, ["already an ikanos document: left as it is"]
    return _Migration(target).run(document)


def _rename(node: Any, old: str, new: str) -> None:
    """Rename a key in place, keeping its position and its comment."""
    if not isinstance(node, CommentedMap) or old not in node or new in node:
        return
    position = list(node).index(old)
    comment = node.ca.items.pop(old, None)
    node.insert(position, new, node.pop(old))
    if comment:
        node.ca.items[new] = comment


def migration_origins(data: Any) -> dict[DocPath, DocPath]:
    """Path in the migrated document -> path in the alpha2 ``data``, where the translation moved a
    node (keys, renames); what ``migrate``'s own rewrites add or fold has no origin."""
    translation = Translation(migrating=True)
    DOCUMENT(translation, copy.deepcopy(data), (), ())
    return {("ikanos",): ("naftiko",), ("info", "display"): ("info", "title"), **translation.origins}


def _translation() -> Translation:
    """The load path's translation, keying every list into maps that keep their comments (D126)."""
    return Translation(migrating=True, new_map=CommentedMap)


def _keyed(node: Any) -> Any:
    """A list of objects -> a map keyed by their names (outputs, which ``modes`` decides about)."""
    return named()(_translation(), node, (), ())


def _values(node: Any, key: str) -> dict[str, Any]:
    """The entries of a map keyed by name (``{}`` where there is none)."""
    value = node.get(key) if isinstance(node, dict) else None
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


def _drop_nulls(node: CommentedMap, *keys: str) -> None:
    for key in keys:
        if key in node and node[key] is None:
            del node[key]


def _renamed_calls(document: CommentedMap) -> dict[str, str]:
    """``namespace.operation`` -> its beta4 key, for consumed operations whose names beta4 refuses
    (read before the translation, which keys them by ``kebab``)."""
    renamed = {}
    capability = document.get("capability")
    for holder in [document] + ([capability] if isinstance(capability, dict) else []):
        for entry in holder.get("consumes") or []:
            if not isinstance(entry, dict) or "import" in entry:
                continue
            for resource in entry.get("resources") or []:
                for operation in (resource.get("operations") or []) if isinstance(resource, dict) else []:
                    old = str(operation.get("name")) if isinstance(operation, dict) else ""
                    if old and kebab(old) != old:
                        renamed[f"{entry.get('namespace')}.{old}"] = f"{entry.get('namespace')}.{kebab(old)}"
    return renamed


def _walk(node: Any) -> Iterator[CommentedMap]:
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, CommentedMap):
            yield current
            stack.extend(current.values())
        elif isinstance(current, CommentedSeq):
            stack.extend(current)


class _Migration:
    def __init__(self, target: str):
        self.target = target
        self.notes: list[str] = []
        self.renamed_calls: dict[str, str] = {}
        self.consumed: dict[str, dict[str, Any]] = {}
        """``namespace.operation`` -> consumed parameters by name (merged levels), for typing."""
        self.credentials: dict[str, str] = {}
        """consumes namespace -> the header its authentication fills."""

    def run(self, written: CommentedMap) -> tuple[CommentedMap, list[str]]:
        self.renamed_calls = _renamed_calls(written)
        document = DOCUMENT(_translation(), written, (), ())
        if "naftiko" in document:
            _rename(document, "naftiko", "ikanos")
            document["ikanos"] = self.target
        else:
            document.insert(0, "ikanos", self.target)
        _rename(document.get("info"), "title", "display")  # D3: alpha2 took `title` for `label`
        capability = document.get("capability")
        holders = [document] + ([capability] if isinstance(capability, CommentedMap) else [])
        for holder in holders:
            for entry in holder.get("consumes") or []:
                self.consumes(entry)
        for holder in holders:
            for entry in holder.get("exposes") or []:
                self.adapter(entry)
            for entry in holder.get("aggregates") or []:
                self.aggregate(entry)
        for consumes in (holder.get("consumes") or [] for holder in holders):
            for entry in consumes:
                self.untype_consumed(entry)
        for node in _walk(document):
            if isinstance(node.get("call"), str) and node["call"] in self.renamed_calls:
                node["call"] = self.renamed_calls[node["call"]]
        return document, self.notes

    # -- consumes -----------------------------------------------------------------------------

    def consumes(self, entry: Any) -> None:
        if not isinstance(entry, CommentedMap) or "import" in entry:
            return
        namespace = str(entry.get("namespace"))
        auth = entry.get("authentication")
        if isinstance(auth, dict):
            header = CREDENTIAL_HEADERS.get(str(auth.get("type")))
            if auth.get("type") == "apikey" and auth.get("placement", "header") == "header":
                header = str(auth.get("key", "")).lower()
            if header:
                self.credentials[namespace] = header
        shared = _values(entry, "inputParameters")
        for resource in _values(entry, "resources").values():
            if not isinstance(resource, CommentedMap):
                continue
            level = {**shared, **_values(resource, "inputParameters")}
            for key, operation in _values(resource, "operations").items():
                if isinstance(operation, CommentedMap):
                    self.consumed[f"{namespace}.{key}"] = {**level, **_values(operation, "inputParameters")}
                    _drop_nulls(operation, "outputParameters")
            _drop_nulls(resource, "operations")
        _drop_nulls(entry, "resources")

    def untype_consumed(self, entry: Any) -> None:
        """Last: consumed inputs keep ``in`` and ``value`` only (their typing moved to the exposing side)."""
        if not isinstance(entry, CommentedMap) or "import" in entry:
            return
        holders = [entry] + [r for r in _values(entry, "resources").values() if isinstance(r, CommentedMap)]
        holders += [op for r in holders[1:] for op in _values(r, "operations").values() if isinstance(op, CommentedMap)]
        for holder in holders:
            for parameter in _values(holder, "inputParameters").values():
                if isinstance(parameter, CommentedMap):
                    for key in ("type", "description", "required", "pattern"):
                        parameter.pop(key, None)

    # -- exposes ------------------------------------------------------------------------------

    def adapter(self, entry: Any) -> None:
        if not isinstance(entry, CommentedMap) or "import" in entry:
            return
        kind = entry.get("type")
        roots = (str(entry.get("namespace")), *ADAPTER_ROOTS.get(str(kind), ()))
        if kind == "rest":
            if "description" in entry:
                description = str(entry.pop("description"))
                if "resources" in entry:  # beta4 REST adapters have no description: kept as a comment
                    entry.yaml_set_comment_before_after_key("resources", before=f"description: {description}", indent=4)
            for resource in _values(entry, "resources").values():
                if isinstance(resource, CommentedMap):
                    for operation in _values(resource, "operations").values():
                        self.operation(operation, roots, tool=False)
                    _drop_nulls(resource, "inputParameters", "operations")
        elif kind == "mcp":
            for tool in _values(entry, "tools").values():
                self.operation(tool, roots, tool=True)
            for resource in _values(entry, "resources").values():
                self.modes(resource)
        for key in [k for k, v in entry.items() if v is None]:
            del entry[key]

    def aggregate(self, entry: Any) -> None:
        if not isinstance(entry, CommentedMap) or "import" in entry:
            return
        for function in _values(entry, "flows").values():
            if isinstance(function, CommentedMap):
                _drop_nulls(function, "inputParameters")
                self.modes(function)

    def operation(self, node: Any, roots: tuple[str, ...], *, tool: bool) -> None:
        """An exposed operation or a tool: inputs (with the consumed typing), modes, outputs, literals."""
        if not isinstance(node, CommentedMap):
            return
        self.carry_typing(node, roots, tool=tool)
        _drop_nulls(node, "inputParameters")
        self.modes(node)
        self.outputs(node)
        self.literals(node)

    def literals(self, node: CommentedMap) -> None:
        """D20: ``with`` literals beta4 holds as text, where the text is what is sent anyway."""
        with_ = node.get("with")
        if not isinstance(with_, CommentedMap):
            return
        consumed = self.consumed.get(self.renamed_calls.get(str(node.get("call")), str(node.get("call"))), {})
        for key, value in list(with_.items()):
            location = consumed.get(str(key), {}).get("in") if isinstance(consumed.get(str(key)), dict) else None
            if value is None:
                del with_[key]  # D17: a null value is never sent
            elif isinstance(value, bool) and location not in (None, "body"):
                with_[key] = "true" if value else "false"  # D14: rendered as this text in a URL or header
            elif isinstance(value, bool) or not isinstance(value, (str, int, float)):
                self.notes.append(f"'with: {key}' holds {value!r}: beta4 takes a string or a number only; left as is")

    def carry_typing(self, node: CommentedMap, roots: tuple[str, ...], *, tool: bool) -> None:
        """D25/D26: the typing that inferred inputs took from consumed parameters, declared here."""
        call = self.renamed_calls.get(str(node.get("call")), str(node.get("call")))
        consumed = self.consumed.get(call)
        if consumed is None or not isinstance(node.get("with"), dict):
            return
        declared = node.get("inputParameters")
        if declared is None:
            declared = CommentedMap()
            node.insert(list(node).index("call") if "call" in node else len(node), "inputParameters", declared)
        if not isinstance(declared, CommentedMap):
            return
        known = {normalize_name(str(name)) for name in declared}
        credential = self.credentials.get(call.partition(".")[0])
        for key, value in node["with"].items():
            match = WITH_REFERENCE.match(value) if isinstance(value, str) else None
            parameter = consumed.get(str(key))
            if not match or match.group(1) not in roots or not isinstance(parameter, dict):
                continue
            name = match.group(2)
            typed = parameter.get("type")
            if normalize_name(name) in known or not isinstance(typed, str):
                continue
            if str(key) == "body" and name != "body":
                continue  # a differently named input would become a body field, not the whole body (D25)
            location = str(parameter.get("in", "query"))
            if location == "header" and str(key).lower() == credential:
                continue  # filled by the gateway's authentication, never asked (D29)
            description = parameter.get("description") or f"{name} ({location} parameter of {call})"
            entry = CommentedMap()
            if not tool:
                entry["in"] = location
            entry["type"] = typed
            entry["description"] = description
            if "pattern" in parameter:
                if tool:
                    self.notes.append(f"{call}: tool input '{name}' loses its pattern (beta4 tool inputs have none)")
                else:
                    entry["pattern"] = parameter["pattern"]
            required = parameter.get("required") is True
            if tool:
                entry["required"] = required
            elif required and location != "path":
                self.notes.append(f"{call}: REST input '{name}' was required; beta4 REST inputs cannot say so")
            declared[name] = entry
            known.add(normalize_name(name))
        if not declared:
            del node["inputParameters"]

    def modes(self, node: Any) -> None:
        """Orchestrated and mock outputs keyed by name (steps and mappings: the translation's)."""
        if not isinstance(node, CommentedMap):
            return
        outputs = node.get("outputParameters")
        if isinstance(outputs, CommentedSeq) and any(isinstance(o, dict) and "name" in o for o in outputs):
            if "steps" in node or "call" not in node:
                for output in outputs:
                    _named_items(output)
                node["outputParameters"] = _keyed(outputs)

    def outputs(self, node: CommentedMap) -> None:
        """D40-D44: mapped outputs in a form the beta4 schema accepts, mapping the same."""
        outputs = node.get("outputParameters")
        if not isinstance(outputs, CommentedSeq) or "call" not in node:
            return
        for output in _walk(outputs):
            mapping = output.get("mapping")
            if isinstance(mapping, CommentedMap):  # D42: properties written under `mapping`
                output["properties"] = mapping.get("properties", output.get("properties"))
                if "value" in mapping:
                    output["mapping"] = mapping["value"]
                else:
                    del output["mapping"]
        if any(isinstance(o, CommentedMap) and o.get("name") for o in outputs):
            # D44: named outputs make an object keyed by their names, each mapped over the response.
            properties = CommentedMap()
            for index, output in enumerate(outputs):
                name = str(output.pop("name", None) or f"output{index}") if isinstance(output, CommentedMap) else None
                if name is not None:
                    properties[name] = output
            node["outputParameters"] = outputs = CommentedSeq(
                [CommentedMap(type="object", mapping="$.", properties=properties)]
            )
        if len(outputs) == 1 and isinstance(outputs[0], CommentedMap):
            only = outputs[0]
            path = str(only.get("mapping", only.get("value", ""))).strip()
            plain = not any(k in only for k in ("properties", "items", "const"))
            if path in ROOT_PATHS and plain and only.get("type") != "object":
                del node["outputParameters"]
                return
        for output in _walk(outputs):
            if (
                output.get("type") == "object"
                and "properties" not in output
                and ("mapping" in output or "value" in output)
            ):
                output["properties"] = CommentedMap()
            elif output.get("type") == "array" and "items" not in output and "mapping" in output:
                # D40: each element as it is, whatever its type (the type written here is not checked).
                output["items"] = CommentedMap(type="string", mapping="$.")
                self.notes.append(f"array output {output['mapping']}: items written as pass-through strings")


def _named_items(output: Any) -> None:
    """Orchestrated array outputs list their item fields by name in alpha2, map them in beta4."""
    if isinstance(output, CommentedMap) and isinstance(output.get("items"), CommentedSeq):
        for item in output["items"]:
            _named_items(item)
        output["items"] = _keyed(output["items"])
