"""``naftiko migrate``: rewrite an alpha2 document into the Ikanos beta4 dialect (D70).

The document is edited in ruamel.yaml's round-trip form, so comments and key order stay where the
library allows: a list of named objects becomes a map keyed by their names (each object, with its
comments, moves under its key), ``label`` becomes ``display``, ``functions`` become ``flows``,
``targetName`` becomes ``target``, imports say ``from``. What alpha2 accepted as dialect
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

import io
import re
from collections.abc import Iterator
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .expressions import WITH_REFERENCE, normalize_name
from .profiles import IKANOS

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
    document = yaml.load(text)
    notes = migrate_document(document, target)
    stream = io.StringIO()
    yaml.dump(document, stream)
    return stream.getvalue(), notes


def migrate_document(document: Any, target: str = TARGETS[0]) -> list[str]:
    """Rewrite a round-trip alpha2 document in place; returns the notes."""
    if target not in TARGETS:
        raise ValueError(f"unknown target version {target!r}; known: {', '.join(TARGETS)}")
    if not isinstance(document, CommentedMap):
        return ["not a YAML mapping: left as it is"]
    if "ikanos" in document:
        return ["already an ikanos document: left as it is"]
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


def _kebab(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]+", "-", text).strip("-") or "x"


def _keyed(node: Any, key_of: Any) -> Any:
    """A list of objects -> a map keyed by ``key_of(item, index)``, each object's ``name`` removed."""
    if not isinstance(node, CommentedSeq):
        return node
    keyed = CommentedMap()
    if node.fa.flow_style():
        keyed.fa.set_flow_style()
    keyed.ca.comment = node.ca.comment
    for index, item in enumerate(node):
        key = key_of(item, index)
        while key in keyed:
            key = f"{key}-{index}"
        comment = None
        if isinstance(item, CommentedMap) and "name" in item:
            comment = item.ca.items.pop("name", None)
            del item["name"]
        keyed[key] = item
        if comment:
            keyed.ca.items[key] = comment
    return keyed


def _by_name(item: Any, index: int) -> str:
    name = item.get("name") if isinstance(item, dict) else None
    return str(name) if name is not None else f"item-{index + 1}"


def _by_kebab_name(item: Any, index: int) -> str:
    """Resource and operation names: beta4 keys allow no '_' (an alpha2 extension, D3)."""
    return _kebab(_by_name(item, index))


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

    def run(self, document: CommentedMap) -> list[str]:
        if "naftiko" in document:
            _rename(document, "naftiko", "ikanos")
            document["ikanos"] = self.target
        else:
            document.insert(0, "ikanos", self.target)
        info = document.get("info")
        if isinstance(info, CommentedMap):
            _rename(info, "label" if "label" in info else "title", "display")
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
            for entry in holder.get("binds") or []:
                self.imported(entry)
        for consumes in (holder.get("consumes") or [] for holder in holders):
            for entry in consumes:
                self.untype_consumed(entry)
        for node in _walk(document):
            if isinstance(node.get("call"), str) and node["call"] in self.renamed_calls:
                node["call"] = self.renamed_calls[node["call"]]
        return self.notes

    # -- consumes -----------------------------------------------------------------------------

    def imported(self, entry: Any) -> bool:
        """``{location, import, as}`` -> ``{from, import, as}``."""
        if not isinstance(entry, CommentedMap) or "import" not in entry:
            return False
        _rename(entry, "location", "from")
        return True

    def consumes(self, entry: Any) -> None:
        if not isinstance(entry, CommentedMap) or self.imported(entry):
            return
        namespace = str(entry.get("namespace"))
        auth = entry.get("authentication")
        if isinstance(auth, dict):
            header = CREDENTIAL_HEADERS.get(str(auth.get("type")))
            if auth.get("type") == "apikey" and auth.get("placement", "header") == "header":
                header = str(auth.get("key", "")).lower()
            if header:
                self.credentials[namespace] = header
        shared = list(entry.get("inputParameters") or [])
        for resource in entry.get("resources") or []:
            if not isinstance(resource, CommentedMap):
                continue
            _rename(resource, "label", "display")
            level = shared + list(resource.get("inputParameters") or [])
            for operation in resource.get("operations") or []:
                if not isinstance(operation, CommentedMap):
                    continue
                _rename(operation, "label", "display")
                old = str(operation.get("name"))
                if _kebab(old) != old:
                    self.renamed_calls[f"{namespace}.{old}"] = f"{namespace}.{_kebab(old)}"
                merged = {str(p.get("name")): p for p in level + list(operation.get("inputParameters") or [])}
                self.consumed[f"{namespace}.{_kebab(old)}"] = merged
                operation["outputParameters"] = _keyed(operation.get("outputParameters"), _by_name)
                if operation.get("outputParameters") is None:
                    del operation["outputParameters"]
            resource["operations"] = _keyed(resource.get("operations"), _by_kebab_name)
        entry["resources"] = _keyed(entry.get("resources"), _by_kebab_name)
        if entry.get("resources") is None:
            del entry["resources"]

    def untype_consumed(self, entry: Any) -> None:
        """Last: consumed inputs keep ``in`` and ``value`` only (their typing moved to the exposing side)."""
        if not isinstance(entry, CommentedMap) or "import" in entry:
            return
        holders = [entry] + [r for r in (entry.get("resources") or {}).values() if isinstance(r, CommentedMap)]
        holders += [
            op for r in holders[1:] for op in (r.get("operations") or {}).values() if isinstance(op, CommentedMap)
        ]
        for holder in holders:
            parameters = holder.get("inputParameters")
            if isinstance(parameters, CommentedSeq):
                for parameter in parameters:
                    if isinstance(parameter, CommentedMap):
                        for key in ("type", "description", "required", "pattern"):
                            parameter.pop(key, None)
                holder["inputParameters"] = _keyed(parameters, _by_name)

    # -- exposes ------------------------------------------------------------------------------

    def adapter(self, entry: Any) -> None:
        if not isinstance(entry, CommentedMap) or self.imported(entry):
            return
        kind = entry.get("type")
        roots = (str(entry.get("namespace")), *ADAPTER_ROOTS.get(str(kind), ()))
        if kind == "rest":
            if "description" in entry:
                description = str(entry.pop("description"))
                if "resources" in entry:  # beta4 REST adapters have no description: kept as a comment
                    entry.yaml_set_comment_before_after_key("resources", before=f"description: {description}", indent=4)
            for resource in entry.get("resources") or []:
                if not isinstance(resource, CommentedMap):
                    continue
                _rename(resource, "label", "display")
                resource["inputParameters"] = self.inputs(resource.get("inputParameters"))
                if resource["inputParameters"] is None:
                    del resource["inputParameters"]
                for operation in resource.get("operations") or []:
                    self.operation(operation, roots, tool=False)
                resource["operations"] = _keyed(
                    resource.get("operations"),
                    lambda op, i: _by_kebab_name(op, i) if "name" in op else str(op.get("method", "get")).lower(),
                )
                if resource.get("operations") is None:
                    del resource["operations"]
            entry["resources"] = _keyed(
                entry.get("resources"),
                lambda r, i: _by_kebab_name(r, i) if "name" in r else _kebab(str(r.get("path", ""))) or "root",
            )
        elif kind == "mcp":
            for tool in entry.get("tools") or []:
                self.operation(tool, roots, tool=True)
            entry["tools"] = _keyed(entry.get("tools"), _by_name)
            for resource in entry.get("resources") or []:
                _rename(resource, "label", "display")
                self.modes(resource)
            for prompt in entry.get("prompts") or []:
                _rename(prompt, "label", "display")
                for argument in prompt.get("arguments") or []:
                    _rename(argument, "label", "display")
                prompt["arguments"] = _keyed(prompt.get("arguments"), _by_name)
            for key in ("resources", "prompts"):
                if key in entry:
                    entry[key] = _keyed(entry[key], _by_name)
        elif kind == "skill":
            for skill in entry.get("skills") or []:
                if isinstance(skill, CommentedMap) and "tools" in skill:
                    # A descriptive skill has no tools: beta4 has no null map for it (issue 23).
                    skill["tools"] = _keyed(skill["tools"], _by_name)
            entry["skills"] = _keyed(entry.get("skills"), _by_name)
        for key in [k for k, v in entry.items() if v is None]:
            del entry[key]

    def aggregate(self, entry: Any) -> None:
        if not isinstance(entry, CommentedMap) or self.imported(entry):
            return
        _rename(entry, "label", "display")
        for function in entry.get("functions") or []:
            if isinstance(function, CommentedMap):
                function["inputParameters"] = self.inputs(function.get("inputParameters"))
                if function["inputParameters"] is None:
                    del function["inputParameters"]
                self.modes(function)
        if "functions" in entry:
            entry["functions"] = _keyed(entry["functions"], _by_name)
            _rename(entry, "functions", "flows")

    def operation(self, node: Any, roots: tuple[str, ...], *, tool: bool) -> None:
        """An exposed operation or a tool: labels, inputs (with the consumed typing), modes."""
        if not isinstance(node, CommentedMap):
            return
        _rename(node, "label", "display")
        self.carry_typing(node, roots, tool=tool)
        node["inputParameters"] = self.inputs(node.get("inputParameters"))
        if node["inputParameters"] is None:
            del node["inputParameters"]
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

    @staticmethod
    def inputs(node: Any) -> Any:
        return _keyed(node, _by_name)

    def carry_typing(self, node: CommentedMap, roots: tuple[str, ...], *, tool: bool) -> None:
        """D25/D26: the typing that inferred inputs took from consumed parameters, declared here."""
        call = self.renamed_calls.get(str(node.get("call")), str(node.get("call")))
        consumed = self.consumed.get(call)
        if consumed is None or not isinstance(node.get("with"), dict):
            return
        declared = node.get("inputParameters")
        if declared is None:
            declared = CommentedSeq()
            node.insert(list(node).index("call") if "call" in node else len(node), "inputParameters", declared)
        if not isinstance(declared, CommentedSeq):
            return
        known = {normalize_name(str(p.get("name"))) for p in declared if isinstance(p, dict)}
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
            entry = CommentedMap(name=name)
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
            declared.append(entry)
            known.add(normalize_name(name))
        if not declared:
            del node["inputParameters"]

    def modes(self, node: Any) -> None:
        """Orchestrated steps, their mappings and named outputs: keyed by name, ``target``."""
        if not isinstance(node, CommentedMap):
            return
        if "steps" in node:
            node["steps"] = _keyed(node["steps"], _by_name)
        for mapping in node.get("mappings") or []:
            _rename(mapping, "targetName", "target")
        outputs = node.get("outputParameters")
        if isinstance(outputs, CommentedSeq) and any(isinstance(o, dict) and "name" in o for o in outputs):
            if "steps" in node or "call" not in node:
                for output in outputs:
                    _named_items(output)
                node["outputParameters"] = _keyed(outputs, _by_name)

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
        output["items"] = _keyed(output["items"], _by_name)
