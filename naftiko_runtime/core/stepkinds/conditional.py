"""``type: x-naftiko-if`` (issue 21, D120): ``then`` runs when the guard ``if`` holds, else
``else`` when given; the step's result is the branch's result, or ``null`` when nothing ran.

    - name: owner
      type: x-naftiko-if
      if: "$.ship.ownerId != null"
      then: {type: call, call: registry.get-owner, with: {id: $.ship.ownerId}}
"""

from __future__ import annotations

from typing import Any, ClassVar

from ...records import dataclass
from ...spec.composition import Builder
from ...spec.diagnostics import DocPath
from ...spec.model import StepSpec
from ...spec.profiles import Profile
from ...spec.shape_kinds import register_step_shape
from ...spec.shape_parts import ANY, KEBAB, STR
from ...spec.shapes import Obj, Shape
from ..steps import Step, StepRun
from .compound import InnerStep, compile_inner, parse_inner, readable, warn_extension
from .guards import Guard, GuardError, parse_guard
from .kind import StepCompiling

TYPE = "x-naftiko-if"


@dataclass(frozen=True)
class ConditionalStepSpec:
    type: ClassVar[str] = TYPE
    name: str
    guard: str
    then: StepSpec
    otherwise: StepSpec | None
    at: DocPath = ()


@dataclass(frozen=True)
class ConditionalStep:
    name: str
    guard: Guard
    then: Step
    otherwise: Step | None
    concurrent: ClassVar[bool] = False

    @property
    def inner(self) -> tuple[Step, ...]:
        return (self.then,) if self.otherwise is None else (self.then, self.otherwise)

    async def run(self, run: StepRun) -> Any:
        branch = self.then if self.guard.holds(run) else self.otherwise
        return None if branch is None else await branch.run(run)


class ConditionalKind:
    type = TYPE
    shape = None

    def parse(self, builder: Builder, node: dict[str, Any], at: DocPath, name: str) -> ConditionalStepSpec | None:
        warn_extension(builder, node, at)
        guard = builder.text(node, "if", at, required=True)
        then = parse_inner(builder, node.get("then"), at + ("then",), name)
        otherwise = parse_inner(builder, node["else"], at + ("else",), name) if "else" in node else None
        if guard is None or then is None or ("else" in node and otherwise is None):
            return None
        return ConditionalStepSpec(name, guard, then, otherwise, at)

    def compile(self, spec: ConditionalStepSpec, context: StepCompiling) -> ConditionalStep | None:
        at = spec.at + ("if",)
        try:
            guard = parse_guard(spec.guard, lambda text: readable(context, text, at))
        except GuardError as exc:
            context.error(at, f"step '{spec.name}': {exc}")
            return None
        then = compile_inner(spec.then, context)
        otherwise = compile_inner(spec.otherwise, context) if spec.otherwise is not None else None
        if guard is None or then is None or (spec.otherwise is not None and otherwise is None):
            return None
        return ConditionalStep(spec.name, guard, then, otherwise)


def shape(profile: Profile) -> Shape:
    inner = InnerStep(profile)
    return Obj(
        "x-naftiko-if step",
        {"type": ANY, **profile.name(KEBAB), "if": STR, "then": inner, "else": inner},
        ("type", *profile.needs_name, "if", "then"),
    )


register_step_shape(TYPE, shape)
