"""``type: call``: one consumed operation, whose ``with`` may read inputs and earlier results."""

from __future__ import annotations

from typing import Any, ClassVar

from ...records import dataclass
from ...spec.composition import Builder
from ...spec.diagnostics import DocPath
from ..steps import Step
from .kind import StepCompiling


@dataclass(frozen=True)
class CallStepSpec:
    type: ClassVar[str] = "call"
    name: str
    call: str
    with_: dict[str, Any]
    at: DocPath = ()


class CallKind:
    type = "call"
    shape = None

    def parse(self, builder: Builder, node: dict[str, Any], at: DocPath, name: str) -> CallStepSpec | None:
        call = builder.text(node, "call", at, required=True)
        with_ = builder.mapping(node.get("with"), at + ("with",), "'with'")
        return CallStepSpec(name, call, dict(with_), at) if call else None

    def compile(self, spec: CallStepSpec, context: StepCompiling) -> Step | None:
        """The consumed side (arguments, inferred inputs, credentials) is the compiler's own."""
        return context.upstream(spec.name, spec.call, spec.with_, spec.at)
