"""``type: upper``: the text of ``value`` (an input, a template, or an earlier step's result) in
capitals. A step kind: how its entry is read, its shape, its compile and its async run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from naftiko_runtime.core.stepkinds import StepCompiling
from naftiko_runtime.core.steps import StepRun, StepValue
from naftiko_runtime.spec.composition import Builder
from naftiko_runtime.spec.diagnostics import DocPath
from naftiko_runtime.spec.expressions import WithSource, resolve
from naftiko_runtime.spec.shapes import Kinds, Obj, Str


@dataclass(frozen=True)
class UpperSpec:
    type: ClassVar[str] = "upper"
    name: str
    value: str
    at: DocPath = ()


@dataclass(frozen=True)
class UpperStep:
    name: str
    source: WithSource | StepValue
    concurrent: ClassVar[bool] = False

    async def run(self, run: StepRun) -> Any:
        if isinstance(self.source, StepValue):
            value = self.source.extract(run.results)
        else:
            _, value = resolve(self.source, run.lookup, run.inputs)
        return None if value is None else str(value).upper()


class UpperKind:
    type = "upper"
    shape = Obj("upper step", {"type": Kinds(), "name": Str(), "value": Str(min_len=1)}, ("type", "value"))

    def parse(self, builder: Builder, node: dict[str, Any], at: DocPath, name: str) -> UpperSpec | None:
        value = builder.text(node, "value", at, required=True)
        return UpperSpec(name, value, at) if value else None

    def compile(self, spec: UpperSpec, context: StepCompiling) -> UpperStep | None:
        if spec.value.startswith("$.") and not isinstance(context.source(spec.value), StepValue):
            context.error(spec.at + ("value",), f"'{spec.value}' reads no earlier step")
            return None
        return UpperStep(spec.name, context.source(spec.value))
