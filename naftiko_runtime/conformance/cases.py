"""Reading case files and preparing a case's capability files (the format: conformance/README.md)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml import YAML

CASE_KEYS = {
    "id",
    "title",
    "checks",
    "features",
    "capability",
    "capabilities",
    "env",
    "files",
    "serve_options",
    "upstream_down",
    "validate",
    "serve_fails",
    "steps",
    "request",
    "mcp",
    "upstream",
    "expect",
    "note",
    "dialects",
    "beta4",
}
STEP_KEYS = {"request", "mcp", "upstream", "expect", "note"}
REQUEST_KEYS = {
    "method",
    "path",
    "port",
    "query",
    "headers",
    "json",
    "text",
    "form",
    "bytes",
    "base64",
    "token",
    "digest",
}
MCP_KEYS = {"method", "params", "id", "notification", "namespace", "path", "port", "headers", "raw", "token"}
EXPECT_KEYS = {
    "status",
    "headers",
    "json",
    "json_subset",
    "jsonpath",
    "text",
    "base64",
    "empty",
    "problem",
    "result",
    "error",
}
VALIDATE_KEYS = {"strict", "exit", "diagnostics", "absent", "errors", "warnings"}


class CaseError(Exception):
    """A case file that does not follow the format: reported as ERROR, never as a runtime failure."""


@dataclass
class Case:
    id: str
    area: str
    file: Path
    data: dict[str, Any]
    title: str = ""
    checks: list[str] = field(default_factory=list)
    features: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        if "validate" in self.data:
            return "validate"
        return "serve"

    @property
    def steps(self) -> list[dict[str, Any]]:
        if "steps" in self.data:
            return list(self.data["steps"] or [])
        step: dict[str, Any] = {k: self.data[k] for k in ("request", "mcp", "upstream", "expect") if k in self.data}
        return [step] if ("request" in step or "mcp" in step) else []


def _yaml_safe() -> YAML:
    return YAML(typ="safe", pure=False)


def _check_keys(where: str, data: Any, allowed: set[str]) -> None:
    if not isinstance(data, dict):
        raise CaseError(f"{where}: expected a mapping, got {type(data).__name__}")
    unknown = sorted(set(map(str, data)) - allowed)
    if unknown:
        raise CaseError(f"{where}: unknown keys {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")


def validate_case_shape(case: Case) -> None:
    from .stub import EXCHANGE_KEYS, RESPONSE_KEYS

    data = case.data
    _check_keys(case.id, data, CASE_KEYS)
    if "capability" not in data and "capabilities" not in data:
        raise CaseError(f"{case.id}: a case needs `capability` or `capabilities`")
    if "validate" in data:
        _check_keys(f"{case.id} validate", data["validate"], VALIDATE_KEYS)
        return
    if data.get("serve_fails"):
        return
    if not case.steps:
        raise CaseError(f"{case.id}: a serving case needs `request`/`mcp` (or `steps`)")
    for n, step in enumerate(case.steps):
        where = f"{case.id} step {n + 1}"
        _check_keys(where, step, STEP_KEYS)
        if ("request" in step) == ("mcp" in step):
            raise CaseError(f"{where}: exactly one of `request` or `mcp`")
        if "request" in step:
            _check_keys(f"{where} request", step["request"], REQUEST_KEYS)
        else:
            _check_keys(f"{where} mcp", step["mcp"], MCP_KEYS)
        _check_keys(f"{where} expect", step.get("expect") or {}, EXPECT_KEYS)
        exchanges = step.get("upstream") or []
        if not isinstance(exchanges, list):
            raise CaseError(f"{where}: `upstream` is a list of exchanges")
        for i, exchange in enumerate(exchanges):
            _check_keys(f"{where} upstream[{i}]", exchange, EXCHANGE_KEYS)
            _check_keys(f"{where} upstream[{i}] respond", exchange.get("respond") or {}, RESPONSE_KEYS)


def load_cases(paths: list[Path]) -> list[Case]:
    """Every case under ``paths`` (files or folders, recursively ``*.yaml``/``*.yml``), sorted by id.

    A file holds one case (a mapping), or several: ``{shared: {...}, cases: [...]}`` where each
    case starts from ``shared`` (top-level keys replaced, not merged); an ``anchors:`` key is free
    space for YAML anchors that the cases reuse.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            # Only files under a folder named `cases` are cases (shared capability files live beside them).
            files += [p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and "cases" in p.resolve().parts]
        elif path.is_file():
            files.append(path)
        else:
            raise CaseError(f"{path}: no such file or folder")
    files = sorted(set(files))
    cases: list[Case] = []
    for file in files:
        cases += _cases_in(file)
    seen: dict[str, Path] = {}
    for case in cases:
        if case.id in seen:
            raise CaseError(f"case id {case.id!r} used twice: {seen[case.id]} and {case.file}")
        seen[case.id] = case.file
    return cases


def _area(file: Path) -> str:
    parts = file.resolve().parts
    if "cases" in parts:
        index = len(parts) - 1 - parts[::-1].index("cases")
        if index + 2 < len(parts):
            return parts[index + 1]
    return file.parent.name


def _cases_in(file: Path) -> list[Case]:
    try:
        document = _yaml_safe().load(file.read_text(encoding="utf-8"))
    except Exception as exc:
        raise CaseError(f"{file}: not YAML: {exc}") from exc
    area = _area(file)
    if isinstance(document, dict) and "cases" in document:
        shared = document.get("shared") or {}
        entries = [dict(shared, **entry) for entry in document["cases"]]
    else:
        entries = [document]
    cases = []
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise CaseError(f"{file}: case {n + 1} is not a mapping")
        default_id = f"{area}/{file.stem}" + (f"/{n + 1}" if len(entries) > 1 else "")
        case_id = str(entry.get("id") or default_id)
        if "/" not in case_id:
            case_id = f"{area}/{case_id}"
        cases.append(
            Case(
                case_id,
                area,
                file,
                entry,
                str(entry.get("title", "")),
                [str(c) for c in entry.get("checks") or []],
                [str(f) for f in entry.get("features") or []],
            )
        )
    return cases


# --- capability files --------------------------------------------------------------------------------


def _yaml_rt() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


@dataclass
class Prepared:
    files: list[Path]
    ports: dict[int, int]
    """Original exposed port -> the free port it was moved to."""
    default_rest_port: int | None
    default_mcp_port: int | None
    imported: set[str] = field(default_factory=set)
    """The case's ``files`` that are capability documents (imported ones), already written."""


def yaml_text(data: Any) -> str:
    stream = io.StringIO()
    _yaml_rt().dump(data, stream)
    return stream.getvalue()


def capability_sources(case: Case) -> list[tuple[str, str]]:
    """``(file name, YAML text)`` of each capability of the case, as written."""
    entries = case.data.get("capabilities")
    if entries is None:
        entries = [case.data["capability"]]
    sources = []
    for n, entry in enumerate(entries):
        name = "capability.yaml" if len(entries) == 1 else f"capability-{n + 1}.yaml"
        if isinstance(entry, str):
            sources.append((name, entry))
        elif isinstance(entry, dict) and set(entry) <= {"file", "name"} and "file" in entry:
            path = (case.file.parent / entry["file"]).resolve()
            if not path.is_file():
                raise CaseError(f"{case.id}: capability file {path} not found")
            sources.append((entry.get("name", name), path.read_text(encoding="utf-8")))
        elif isinstance(entry, dict):
            sources.append((name, yaml_text(entry)))
        else:
            raise CaseError(f"{case.id}: a capability is YAML text, a mapping, or {{file: path}}")
    return sources


def _capability_document(content: Any) -> str | None:
    """The text of one of a case's ``files`` when it is a capability document (an imported one)."""
    text = content if isinstance(content, str) else yaml_text(content) if isinstance(content, dict) else None
    if text is None:
        return None
    try:
        data = _yaml_safe().load(text)
    except Exception:
        return None
    return text if isinstance(data, dict) and ("naftiko" in data or "ikanos" in data) else None


def prepare(case: Case, directory: Path, stub_url: str | None, port_for: Callable[[int], int] | None) -> Prepared:
    """Write the case's capability files into ``directory``; when serving, point consumed baseUris
    at ``stub_url`` (keeping their path) and move exposed ports with ``port_for(original)``, in the
    capability files and in the capability documents among the case's ``files`` (imported ones).
    Validation passes ``None`` for both: the files are written as they are."""
    prepared = Prepared([], {}, None, None)
    for name, text in capability_sources(case):
        prepared.files.append(_write_capability(directory / name, text, prepared, stub_url, port_for))
    if stub_url is not None and port_for is not None:
        for name, content in (case.data.get("files") or {}).items():
            imported = _capability_document(content)
            if imported is not None:
                target = (directory / name).resolve()
                if directory.resolve() not in target.parents:
                    raise CaseError(f"{case.id}: file {name} would be written outside the case folder")
                target.parent.mkdir(parents=True, exist_ok=True)
                _write_capability(target, imported, prepared, stub_url, port_for)
                prepared.imported.add(name)
    return prepared


def _yaml_plain_dumper() -> YAML:
    """Block YAML with the C emitter, keys in their written order: a served case's capability is
    rewritten (its ports and baseUri moved) for every case run, and the round-trip loader and
    dumper, pure Python, were about a third of a conformance area's CPU."""
    yaml = YAML(typ="safe", pure=False)
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.representer.sort_base_mapping_type_on_output = False
    return yaml


def _write_capability(
    path: Path, text: str, prepared: Prepared, stub_url: str | None, port_for: Callable[[int], int] | None
) -> Path:
    if stub_url is None or port_for is None:
        path.write_text(text, encoding="utf-8")
        return path
    try:
        document = _yaml_safe().load(text)
    except Exception:
        path.write_text(text, encoding="utf-8")  # the runtime will report it
        return path
    holders = [document] if isinstance(document, dict) else []
    if holders and isinstance(document.get("capability"), dict):
        holders.append(document["capability"])
    for holder in holders:
        for consumed in holder.get("consumes") or []:
            base = consumed.get("baseUri") if isinstance(consumed, dict) else None
            if isinstance(base, str) and base.startswith(("http://", "https://")) and "{{" not in base:
                consumed["baseUri"] = stub_url + urlsplit(base).path
        for exposed in holder.get("exposes") or []:
            auth = exposed.get("authentication") if isinstance(exposed, dict) else None
            if isinstance(auth, dict) and auth.get("authorizationServerUri") == "{stub}":
                auth["authorizationServerUri"] = stub_url  # the stub is the authorization server
            if not isinstance(exposed, dict) or not isinstance(exposed.get("port"), int):
                continue
            original = exposed["port"]
            if original not in prepared.ports:
                prepared.ports[original] = port_for(original)
            exposed["port"] = prepared.ports[original]
            if exposed.get("type") == "rest" and prepared.default_rest_port is None:
                prepared.default_rest_port = original
            if exposed.get("type") == "mcp" and prepared.default_mcp_port is None:
                prepared.default_mcp_port = original
    stream = io.StringIO()
    _yaml_plain_dumper().dump(document, stream)
    path.write_text(stream.getvalue(), encoding="utf-8")
    return path


def write_files(case: Case, directory: Path, substitutions: dict[str, str], skip: set[str] | None = None) -> None:
    """The case's ``files`` (bind files, imported capabilities), beside the capability; ``skip``
    names those ``prepare`` already wrote."""
    for name, content in (case.data.get("files") or {}).items():
        if skip and name in skip:
            continue
        target = (directory / name).resolve()
        if directory.resolve() not in target.parents:
            raise CaseError(f"{case.id}: file {name} would be written outside the case folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            text = substitute(content, substitutions)
        elif name.endswith(".json"):
            text = json.dumps(content, indent=2)
        else:
            stream = io.StringIO()
            _yaml_rt().dump(content, stream)
            text = stream.getvalue()
        target.write_text(text, encoding="utf-8")


def substitute(text: str, substitutions: dict[str, str]) -> str:
    """``{stub}`` (the stub's URL), ``{stub_host}`` (its host:port), ``{dir}`` (the case folder) in env
    values and file contents."""
    return re.sub(r"\{(stub|stub_host|dir|port:\d+)\}", lambda m: substitutions.get(m.group(1), m.group(0)), text)
