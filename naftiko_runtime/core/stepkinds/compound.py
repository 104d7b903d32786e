"""What the compound step kinds share (issue 21, D120): the extension warning on their ``type``,
their inner steps (read, shaped and compiled by the inner step's own kind) and D80's failure.

A compound kind's ``type`` is spelled ``x-naftiko-...``: the official schema knows only call,
lookup and script, so every such step warns at its ``type`` and ``--strict`` refuses the file.
An inner step is a ``steps`` entry without ``name``: it takes its outer step's name (a parallel
branch: ``<step>.<branch>``), which is the name a failure reports.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ...records import dataclass
from ...spec.composition import Builder, step
from ...spec.diagnostics import DocPath
from ...spec.expressions import InputReference
from ...spec.extensions import not_official
from ...spec.model import StepSpec
from ...spec.profiles import Profile
from ...spec.shape_kinds import STEPS
from ...spec.shapes import Context, Path, Shape, Switch
from ..execution import FAILED_STEP_HEADER, StepFailed
from ..steps import Results, Step, StepRun, StepValue, with_results
from .kind import STEP_KINDS, StepCompiling

INSTEAD = "to stay portable, write it with call and script steps (docs/composition.md, Extension steps)"


def warn_extension(builder: Builder, node: dict[str, Any], at: DocPath) -> None:
    """D97, D120: positioned at the step's ``type``; ``--strict`` makes it an error."""
    builder.warning(at + ("type",), not_official(f"type: {node.get('type')}", INSTEAD))


def parse_inner(builder: Builder, node: Any, at: DocPath, name: str) -> StepSpec | None:
    """An inner step, read by its own kind under its outer step's ``name``."""
    entry = builder.mapping(node, at, "an inner step")
    return step(builder, {**entry, "name": name}, at) if entry else None


def readable(context: StepCompiling, text: str, at: DocPath) -> InputReference | StepValue | None:
    """A value a compound step reads (a guard's, a for-each's list): an earlier step's result or
    an input, never a literal - a typo would otherwise be a constant guard or a list of letters."""
    source = context.source(text)
    if isinstance(source, InputReference | StepValue):
        return source
    known = ", ".join(context.known) or "none"
    context.error(
        at, f"'{text}' reads neither an earlier step ($.<step>..., known: {known}) nor an input (<namespace>.<name>)"
    )
    return None


def compile_inner(spec: StepSpec, context: StepCompiling) -> Step | None:
    kind = STEP_KINDS.get(spec.type)
    return kind.compile(spec, context) if kind is not None else None


def scoped(run: StepRun, values: Results) -> StepRun:
    """``run`` in which ``values`` read like earlier steps' results (a for-each's element)."""
    return replace(run, results={**run.results, **values}, lookup=with_results(run.lookup, values))


def renamed(failed: StepFailed, name: str) -> StepFailed:
    """D80: the failure names ``name`` (``<step>[<index>]``), in the problem and its header."""
    reply = failed.reply
    headers = tuple((k, name if k == FAILED_STEP_HEADER else v) for k, v in reply.headers)
    return StepFailed(replace(reply, step=name, headers=headers))


@dataclass(frozen=True, eq=False)
class InnerStep(Shape):
    """The shape of an inner step: any registered kind's, read at check time (so a compound kind
    may hold another, and a plugin's kind registered later is known), without the ``name`` key."""

    profile: Profile

    def check(self, v: object, path: Path, ctx: Context) -> None:
        named = {"name": "inner", **v} if isinstance(v, dict) and self.profile.needs_name else v
        Switch("type", STEPS.cases(self.profile), "step").check(named, path, ctx)
