"""Bind variables: values from the environment or from JSON/YAML files (CONTRACT D10-D13).

Values are read once at start-up. A variable whose source is unset stays ``None``: that is a
warning (D13) naming every place of the document that uses it, and an error under ``--strict``.
Consumed inputs ``in: environment`` are read the same way and join the bind variables (D73).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from ..records import dataclass
from .diagnostics import DocPath, Finding, path_text
from .expressions import TEMPLATE_REFERENCE, Reference
from .model import Bind, Capability


@dataclass
class BindValues:
    """Every bind variable of one capability, by name and by bind namespace."""

    values: dict[str, str | None] = field(default_factory=dict)
    namespaces: dict[str, dict[str, str | None]] = field(default_factory=dict)

    def lookup(self, reference: Reference) -> tuple[bool, str | None]:
        """``(is a bind variable, value)``; an unset variable is a bind variable with no value."""
        if reference.namespace is not None:
            scope = self.namespaces.get(reference.namespace)
            if scope is None:
                return False, None
            return (True, scope[reference.name]) if reference.name in scope else (False, None)
        if reference.name in self.values:
            return True, self.values[reference.name]
        return False, None

    def secrets(self) -> list[str]:
        """Every resolved value, so that logs and error bodies can be scrubbed of them (D55)."""
        return [v for v in self.values.values() if v]


def file_location(location: str, base_dir: Path) -> Path | None:
    """``file:///abs``, ``file:///./rel`` or ``file://./rel`` -> a path (relative to the file)."""
    if not location.startswith("file://"):
        return None
    rest = location[len("file://") :]
    if rest.startswith("/./") or rest.startswith("/../"):
        return base_dir / rest[1:]
    if rest.startswith("./") or rest.startswith("../"):
        return base_dir / rest
    return Path(rest)


def _read_bind_file(path: Path) -> Mapping[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        data = json.loads(text)
    else:
        data = YAML(typ="safe", pure=False).load(text)
    if not isinstance(data, dict):
        raise ValueError("its top level is not a mapping of keys to values")
    return data


def resolve_binds(
    binds: tuple[Bind, ...], capability_file: Path, environ: Mapping[str, str] | None = None
) -> tuple[BindValues, list[Finding]]:
    """Each bind's values; a ``location`` is relative to the capability file's real folder, which
    is looked up (symbolic links followed) only for a bind that has one."""
    environ = os.environ if environ is None else environ
    resolved, findings = BindValues(), []
    for bind in binds:
        source: Mapping[str, Any] = environ
        if bind.location:
            path = file_location(bind.location, capability_file.resolve().parent)
            if path is None:
                findings.append(
                    Finding.error(
                        bind.at + ("location",),
                        f"bind location '{bind.location}' is not a file:// URI; "
                        "secret-manager locations are not implemented by this runtime yet",
                    )
                )
                continue
            try:
                source = _read_bind_file(path)
            except (OSError, ValueError, YAMLError) as exc:
                findings.append(
                    Finding.error(
                        bind.at + ("location",),
                        f"cannot read bind file {path}: {getattr(exc, 'strerror', None) or exc}",
                    )
                )
                continue
        scope = resolved.namespaces.setdefault(bind.namespace, {})
        for variable, key in bind.keys.items():
            value = source.get(key)
            text = None if value is None else (value if isinstance(value, str) else json.dumps(value))
            scope[variable] = text
            resolved.values[variable] = text
    return resolved, findings


def template_uses(data: Any, at: DocPath = ()) -> Iterator[tuple[DocPath, Reference]]:
    """Every ``{{...}}`` reference in every string of the document, with its path."""
    stack: list[tuple[Any, DocPath]] = [(data, at)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            stack.extend((value, path + (key,)) for key, value in node.items())
        elif isinstance(node, list):
            stack.extend((value, path + (i,)) for i, value in enumerate(node))
        elif isinstance(node, str) and "{{" in node:
            for match in TEMPLATE_REFERENCE.finditer(node):
                namespace, _, name = match.group(1).rpartition(".")
                yield path, Reference(namespace or None, name)


def unset_variable_findings(
    data: Any,
    binds: tuple[Bind, ...],
    values: BindValues,
    strict: bool,
    where: Callable[[DocPath], str] = path_text,
) -> list[Finding]:
    """D13: one finding per declared-but-unset variable, listing the places (``where``) that use it.

    The document is walked for those places only when some variable is unset: a file whose binds
    are all set (every file of a healthy start-up) costs nothing here (issue 22)."""
    unset = [
        (bind, variable, key)
        for bind in binds
        for variable, key in bind.keys.items()
        if values.namespaces.get(bind.namespace, {}).get(variable) is None
    ]
    if not unset:
        return []
    uses: dict[str, list[DocPath]] = {}
    for path, reference in template_uses(data):
        found, _ = values.lookup(reference)
        if found:
            uses.setdefault(reference.name, []).append(path)
    findings = []
    for bind, variable, key in unset:
        places = uses.get(variable, [])
        used = ", ".join(where(place) for place in places) or "nowhere in this file"
        source = f"file key '{key}'" if bind.location else f"environment variable {key}"
        message = f"bind variable {variable} ({source}) is not set; used at: {used}"
        at = bind.at + ("keys", variable)
        findings.append(Finding.error(at, message) if strict else Finding.warning(at, message))
    return findings


def environment_inputs(
    capability: Capability, values: BindValues, environ: Mapping[str, str], strict: bool
) -> list[Finding]:
    """D73: a consumed input ``NAME: {in: environment}`` is the environment variable ``NAME``,
    read at start-up (its ``value``, if any, when the variable is unset). It becomes a variable
    that ``{{NAME}}`` templates read, that a caller can never override (D12) and that is
    redacted like any secret (D55). An unset one is reported like an unset bind variable (D13)."""
    findings: list[Finding] = []
    for consumes in capability.consumes.values():
        for operation in consumes.operations.values():
            for parameter in operation.parameters:
                if parameter.location != "environment" or parameter.name in values.values:
                    continue
                value = environ.get(parameter.name, parameter.value)
                values.values[parameter.name] = value
                if value is None:
                    message = (
                        f"environment variable {parameter.name} (consumed input '{parameter.name}', "
                        "in: environment) is not set (D73)"
                    )
                    findings.append(
                        Finding.error(parameter.at, message) if strict else Finding.warning(parameter.at, message)
                    )
    return findings
