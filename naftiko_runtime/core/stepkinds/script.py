"""``type: script``: JavaScript run in QuickJS (``core.scripts``, D83). Its files are read and
compiled at load; the script sees ``context`` (inputs, earlier results by step name, its ``with``)
and answers by setting ``result``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote

from ...extras import SCRIPTS
from ...records import dataclass
from ...spec.binds import file_location
from ...spec.composition import Builder
from ...spec.diagnostics import DocPath
from ..scripts import ScriptStep, ScriptSyntaxError, check_syntax
from .kind import StepCompiling

SCRIPT_SEGMENT = re.compile(r"^[a-zA-Z0-9._-]+$")


@dataclass(frozen=True)
class ScriptStepSpec:
    type: ClassVar[str] = "script"
    name: str
    source: str
    dependencies: tuple[str, ...]
    """Sources evaluated before the main one, in order."""
    with_: dict[str, Any]
    at: DocPath = ()


class ScriptKind:
    type = "script"
    shape = None

    def parse(self, builder: Builder, node: dict[str, Any], at: DocPath, name: str) -> ScriptStepSpec | None:
        """D83: JavaScript only; its files are read now, once. The control adapter's scripting
        governance (D117) gives the language and location a step omits, and may refuse its language."""
        governance = builder.scripting
        language = builder.text(node, "language", at) if "language" in node else governance.get("defaultLanguage")
        for key, default in (("language", "defaultLanguage"), ("location", "defaultLocation")):
            if key not in node and not isinstance(governance.get(default), str):
                builder.error(
                    at,
                    f"a script step without '{key}': give the step its own, or set the control adapter's "
                    f"management.scripting '{default}'",
                )
        where = at + ("language",) if "language" in node else at
        allowed = governance.get("allowedLanguages")
        if isinstance(allowed, list) and language is not None and language not in allowed:
            builder.error(
                where,
                f"script language '{language}' is not among the control adapter's scripting allowedLanguages "
                f"({', '.join(map(str, allowed)) or 'none'})",
            )
            return None
        if language in ("groovy", "python"):
            builder.error(
                where,
                f"{language} script steps are refused by this runtime: it has no sandbox for "
                f"{language} it can defend (SECURITY.md); write the step in javascript",
            )
            return None
        if language is not None and language != "javascript":
            builder.error(where, f"unknown script language '{language}': expected javascript")
            return None
        location = builder.text(node, "location", at) if "location" in node else governance.get("defaultLocation")
        main = builder.text(node, "file", at, required=True)
        if language is None or location is None or main is None:
            return None
        # The skill-location convention (beta4 OperationStepScript.location): `file:///./x` is beside
        # the capability file, `file:///x` absolute (issue 23).
        root = (
            file_location(unquote(location), builder.file.resolve().parent) if location.startswith("file:///") else None
        )
        if root is None:
            builder.error(at + ("location",), f"location '{location}' must be a file:/// URI")
            return None
        source = _script_file(builder, root, main, at + ("file",))
        dependencies = [
            _script_file(builder, root, str(item), d_at) for item, d_at in builder.items(node, "dependencies", at)
        ]
        with_ = builder.mapping(node.get("with"), at + ("with",), "'with'")
        if source is None or None in dependencies:
            return None
        return ScriptStepSpec(name, source, tuple(d for d in dependencies if d is not None), dict(with_), at)

    def compile(self, spec: ScriptStepSpec, context: StepCompiling) -> ScriptStep | None:
        """D83: every source compiled once now, so that a syntax error stops the load at its step;
        without the ``scripts`` extra the step is refused here, at its language (D104)."""
        missing = SCRIPTS.missing(f"script step '{spec.name}' (javascript)")
        if missing is not None:
            context.error(spec.at + ("language",), missing)
            return None
        for source in (*spec.dependencies, spec.source):
            try:
                check_syntax(source)
            except ScriptSyntaxError as exc:
                context.error(spec.at + ("file",), f"script of step '{spec.name}': {exc}")
                return None
        with_ = tuple((key, context.source(value)) for key, value in spec.with_.items())
        return ScriptStep(spec.name, (*spec.dependencies, spec.source), with_, context.script_limits)


def _script_file(builder: Builder, root: Path, relative: str, at: DocPath) -> str | None:
    """A script below ``root``; segments as the spec allows them (no ``..``, no absolute path)."""
    parts = relative.split("/")
    if not all(SCRIPT_SEGMENT.match(p) and p not in (".", "..") for p in parts):
        builder.error(at, f"script path '{relative}' must be relative segments of [a-zA-Z0-9._-], without '..'")
        return None
    try:
        return (root.joinpath(*parts)).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        builder.error(at, f"cannot read script '{relative}' under {root}: {exc.__class__.__name__}: {exc}")
        return None
