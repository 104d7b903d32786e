"""``type: x-naftiko-parallel`` (issue 21, D120): named ``branches``, each an inner step, run
together; the result is an object of their results by branch name, in declared order.

    - name: both
      type: x-naftiko-parallel
      branches:
        ship: {type: call, call: registry.get-ship, with: {imo: fleet.imo}}
        crew: {type: call, call: registry.list-crew, with: {id: fleet.imo}}

Every branch is awaited; the first failing one in declared order is the answer, named
``<step>.<branch>`` (D80). Branches read inputs and earlier steps, never each other.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from ...records import dataclass
from ...spec.composition import Builder
from ...spec.diagnostics import DocPath
from ...spec.model import StepSpec
from ...spec.profiles import Profile
from ...spec.shape_kinds import register_step_shape
from ...spec.shape_parts import ANY, KEBAB
from ...spec.shapes import Map, Obj, Shape
from ..steps import Step, StepRun
from .compound import InnerStep, compile_inner, parse_inner, warn_extension
from .kind import StepCompiling

TYPE = "x-naftiko-parallel"


@dataclass(frozen=True)
class ParallelStepSpec:
    type: ClassVar[str] = TYPE
    name: str
    branches: tuple[tuple[str, StepSpec], ...]
    at: DocPath = ()


@dataclass(frozen=True)
class ParallelStep:
    name: str
    branches: tuple[tuple[str, Step], ...]
    concurrent: ClassVar[bool] = False

    @property
    def inner(self) -> tuple[Step, ...]:
        return tuple(step for _, step in self.branches)

    async def run(self, run: StepRun) -> Any:
        outcomes = await asyncio.gather(*(step.run(run) for _, step in self.branches), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return {name: outcome for (name, _), outcome in zip(self.branches, outcomes, strict=True)}


class ParallelKind:
    type = TYPE
    shape = None

    def parse(self, builder: Builder, node: dict[str, Any], at: DocPath, name: str) -> ParallelStepSpec | None:
        warn_extension(builder, node, at)
        raw = builder.mapping(node.get("branches"), at + ("branches",), "'branches'")
        if not raw:
            builder.error(at, "a parallel step needs 'branches': named inner steps")
            return None
        branches = [
            (str(branch), parse_inner(builder, entry, at + ("branches", branch), f"{name}.{branch}"))
            for branch, entry in raw.items()
        ]
        if any(spec is None for _, spec in branches):
            return None
        return ParallelStepSpec(name, tuple((b, s) for b, s in branches if s is not None), at)

    def compile(self, spec: ParallelStepSpec, context: StepCompiling) -> ParallelStep | None:
        branches = [(branch, compile_inner(inner, context)) for branch, inner in spec.branches]
        if any(step is None for _, step in branches):
            return None
        return ParallelStep(spec.name, tuple((b, s) for b, s in branches if s is not None))


def shape(profile: Profile) -> Shape:
    return Obj(
        "x-naftiko-parallel step",
        {"type": ANY, **profile.name(KEBAB), "branches": Map(InnerStep(profile), KEBAB, 1)},
        ("type", *profile.needs_name, "branches"),
    )


register_step_shape(TYPE, shape)
