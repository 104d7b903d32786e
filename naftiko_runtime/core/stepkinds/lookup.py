"""``type: lookup``: entries of an earlier step's list whose ``match`` field equals the looked-up
value(s), projected on the named fields (spec: Orchestrated, lookup)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ...records import dataclass
from ...spec.composition import Builder
from ...spec.diagnostics import DocPath
from ...spec.expressions import Template, render_scalar
from ..outputs import Extract, MappingError, compile_path
from ..steps import StepRun, step_of
from .kind import StepCompiling


@dataclass(frozen=True)
class LookupStepSpec:
    """``lookup_value`` is a JSONPath over the step results, or a literal (possibly templated)."""

    type: ClassVar[str] = "lookup"
    name: str
    index: str
    match: str
    lookup_value: str
    fields: tuple[str, ...]
    at: DocPath = ()


@dataclass(frozen=True)
class LookupStep:
    """A single value gives the first matching entry, or ``None`` when none matches; a list of
    values gives one projected entry per value that matches, in the values' order (a value with
    no match is skipped, a key present twice in the index yields its first entry)."""

    name: str
    index: str
    match: str
    value: Extract | None
    template: Template
    """The looked-up value when it is not a JSONPath: text, possibly with ``{{...}}``."""
    fields: tuple[str, ...]
    concurrent: ClassVar[bool] = False

    async def run(self, run: StepRun) -> Any:
        table = run.results.get(self.index)
        rows = table if isinstance(table, list) else [table] if isinstance(table, dict) else []
        by_key: dict[str, dict[str, Any]] = {}
        for row in rows:
            if isinstance(row, dict) and self.match in row:
                by_key.setdefault(_key(row[self.match]), row)
        wanted = self.value(run.results) if self.value is not None else self.template.render(run.lookup)[1]
        if isinstance(wanted, list):
            return [self._project(by_key[_key(v)]) for v in wanted if _key(v) in by_key]
        row = by_key.get(_key(wanted))
        return None if row is None else self._project(row)

    def _project(self, row: dict[str, Any]) -> dict[str, Any]:
        return {field: row.get(field) for field in self.fields}


def _key(value: Any) -> str:
    """Keys compare as text, as in the reference engine: an id is ``"7"`` in one API and ``7``
    in the next."""
    return render_scalar(value)


class LookupKind:
    type = "lookup"
    shape = None

    def parse(self, builder: Builder, node: dict[str, Any], at: DocPath, name: str) -> LookupStepSpec | None:
        index = builder.text(node, "index", at, required=True)
        match = builder.text(node, "match", at, required=True)
        value = builder.text(node, "lookupValue", at, required=True)
        raw = builder.sequence(node.get("outputParameters"), at + ("outputParameters",), "'outputParameters'")
        fields = tuple(str(f) for f in raw if isinstance(f, (str, int)))
        if not fields:
            builder.error(at, "a lookup step needs 'outputParameters': the fields to keep")
        if index and match and value is not None and fields:
            return LookupStepSpec(name, index, match, value, fields, at)
        return None

    def compile(self, spec: LookupStepSpec, context: StepCompiling) -> LookupStep | None:
        try:
            return compile_lookup(spec, context.known)
        except MappingError as exc:
            context.error(spec.at, str(exc))
            return None


def compile_lookup(spec: LookupStepSpec, known: Mapping[str, int]) -> LookupStep:
    """Raises ``MappingError`` for a bad JSONPath or an ``index`` that names no earlier step."""
    if spec.index not in known:
        raise MappingError(f"lookup index '{spec.index}' names no earlier step (known: {', '.join(known) or 'none'})")
    value = spec.lookup_value
    if value.strip().startswith("$"):
        if step_of(value) not in known:
            raise MappingError(f"lookupValue '{value}' reads no earlier step")
        return LookupStep(spec.name, spec.index, spec.match, compile_path(value), Template.parse(""), spec.fields)
    return LookupStep(spec.name, spec.index, spec.match, None, Template.parse(value), spec.fields)
