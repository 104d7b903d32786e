"""``type: x-naftiko-foreach`` (issue 21, D120): the inner step ``do`` once per element of the
list ``in`` (an input, or an earlier step's result), the element readable as ``$.<as>...`` and
``{{<as>.field}}``; at most ``concurrency`` elements in flight (default 4, at most 16). The
result is the list of the inner results, in the input's order, whatever order they finish in.

    - name: ships
      type: x-naftiko-foreach
      in: $.fleet.ships
      as: ship
      concurrency: 4
      do: {type: call, call: registry.get-ship, with: {imo: $.ship.imo}}

A missing or ``null`` list gives ``[]``; anything else that is not a list is a 502 naming the
step. The first failing element (in the input's order) is the answer, named ``<step>[<index>]``
(D80), and no element is started after a failure.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from ...records import dataclass
from ...spec.composition import Builder
from ...spec.diagnostics import DocPath
from ...spec.expressions import InputReference
from ...spec.model import StepSpec
from ...spec.profiles import Profile
from ...spec.shape_kinds import register_step_shape
from ...spec.shape_parts import ANY, KEBAB, STR
from ...spec.shapes import Num, Obj, Shape
from ..execution import StepFailed
from ..problems import Problem
from ..steps import Step, StepRun, StepValue, read_source
from .compound import InnerStep, compile_inner, parse_inner, readable, renamed, scoped, warn_extension
from .kind import StepCompiling

TYPE = "x-naftiko-foreach"
DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 16
"""A hard cap whatever the file says: one request must not open a flood of upstream calls."""
DEFAULT_ELEMENT = "item"


@dataclass(frozen=True)
class ForEachStepSpec:
    type: ClassVar[str] = TYPE
    name: str
    items: str
    element: str
    concurrency: int
    do: StepSpec
    at: DocPath = ()


@dataclass(frozen=True)
class ForEachStep:
    name: str
    items: InputReference | StepValue
    element: str
    concurrency: int
    do: Step
    concurrent: ClassVar[bool] = False

    @property
    def inner(self) -> tuple[Step, ...]:
        return (self.do,)

    async def run(self, run: StepRun) -> Any:
        _, items = read_source(self.items, run)
        if items is None:
            return []
        if not isinstance(items, list):
            raise Problem(502, f"step '{self.name}': 'in' is {type(items).__name__}, not a list")
        results: list[Any] = [None] * len(items)
        pending = iter(range(len(items)))
        failures: dict[int, Exception] = {}

        async def worker() -> None:
            for index in pending:  # shared: each index is taken once, by the first free worker
                if failures:
                    return
                try:
                    results[index] = await self.do.run(scoped(run, {self.element: items[index]}))
                except Exception as exc:  # kept: the first in input order is raised below
                    failures[index] = exc

        await asyncio.gather(*(worker() for _ in range(min(self.concurrency, len(items)))))
        if failures:
            first = min(failures)
            failure = failures[first]
            raise renamed(failure, f"{self.name}[{first}]") if isinstance(failure, StepFailed) else failure
        return results


class ForEachKind:
    type = TYPE
    shape = None

    def parse(self, builder: Builder, node: dict[str, Any], at: DocPath, name: str) -> ForEachStepSpec | None:
        warn_extension(builder, node, at)
        items = builder.text(node, "in", at, required=True)
        element = builder.text(node, "as", at) or DEFAULT_ELEMENT
        concurrency = node.get("concurrency", DEFAULT_CONCURRENCY)
        if not isinstance(concurrency, int) or isinstance(concurrency, bool) or not 1 <= concurrency:
            builder.error(at + ("concurrency",), f"concurrency must be a positive integer, got {concurrency!r}")
            return None
        if concurrency > MAX_CONCURRENCY:
            builder.warning(
                at + ("concurrency",), f"concurrency {concurrency} is above this runtime's cap: {MAX_CONCURRENCY} used"
            )
        do = parse_inner(builder, node.get("do"), at + ("do",), name)
        if items is None or do is None:
            return None
        return ForEachStepSpec(name, items, element, min(concurrency, MAX_CONCURRENCY), do, at)

    def compile(self, spec: ForEachStepSpec, context: StepCompiling) -> ForEachStep | None:
        items = readable(context, spec.items, spec.at + ("in",))
        if spec.element in context.known:
            context.error(spec.at + ("as",), f"'as: {spec.element}' is already the name of an earlier step")
            return None
        with context.scope((spec.element,)):
            do = compile_inner(spec.do, context)
        if items is None or do is None:
            return None
        return ForEachStep(spec.name, items, spec.element, spec.concurrency, do)


def shape(profile: Profile) -> Shape:
    return Obj(
        "x-naftiko-foreach step",
        {
            "type": ANY,
            **profile.name(KEBAB),
            "in": STR,
            "as": KEBAB,
            "concurrency": Num(1, integer=True),
            "do": InnerStep(profile),
        },
        ("type", *profile.needs_name, "in", "do"),
    )


register_step_shape(TYPE, shape)
