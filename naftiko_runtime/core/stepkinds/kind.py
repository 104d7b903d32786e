"""The interface and the registry of ``stepkinds`` (the package re-exports them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any, Generic, Protocol, TypeVar

from ...spec import plugged
from ...spec.composition import Builder
from ...spec.diagnostics import DocPath
from ...spec.expressions import WithSource
from ...spec.model import Consumes, Exposed, StepSpec
from ...spec.shape_kinds import fixed, register_step_shape
from ...spec.shapes import Shape
from ..consumed import ConsumedCalls
from ..scripts import ScriptLimits
from ..steps import Step, StepValue

SpecT = TypeVar("SpecT", bound=StepSpec)


class StepCompiling(Protocol):
    """What the plan compiler gives a step kind while it compiles one step of an operation."""

    @property
    def exposed(self) -> Exposed:
        """The operation the step belongs to."""

    @property
    def known(self) -> Mapping[str, int]:
        """The earlier steps of the operation by name (their position): what this one may read."""

    @property
    def script_limits(self) -> ScriptLimits: ...

    @property
    def consumed(self) -> ConsumedCalls:
        """The file's consumed namespaces as compiled at load (base URIs, credentials)."""

    def error(self, at: DocPath, message: str) -> None:
        """A load error at ``at``: the operation is not served."""

    def source(self, value: Any) -> WithSource | StepValue:
        """A ``with`` value: an input, a bind, a literal, a template or an earlier step's result."""

    def infer(self, name: str) -> None:
        """The operation takes input ``name``, untyped and optional, unless it declares it."""

    def upstream(self, name: str, call: str, with_: Mapping[str, Any], at: DocPath) -> Step | None:
        """A step that calls the consumed operation ``call`` with ``with_`` (the ``call`` kind)."""

    def scope(self, names: Iterable[str]) -> AbstractContextManager[None]:
        """While open, ``names`` may be read like earlier steps (``$.<name>...``, ``{{<name>.x}}``):
        what a compound kind hands its inner steps (a for-each's element, issue 21)."""


class StepKind(Protocol, Generic[SpecT]):
    @property
    def type(self) -> str:
        """The spec's ``steps[].type``."""

    @property
    def shape(self) -> Shape | None:
        """The shape of its ``steps`` entry; ``None`` leaves the entry to ``parse`` alone."""

    def parse(self, builder: Builder, node: dict[str, Any], at: DocPath, name: str) -> SpecT | None:
        """The entry in the model, or ``None`` after reporting why through ``builder``."""

    def compile(self, spec: SpecT, context: StepCompiling) -> Step | None:
        """The step ready to run, or ``None`` after reporting why through ``context``."""


class ConsumedCallKind(Protocol):
    """How a ``call`` into a consumed namespace of a ``type`` other than ``http`` compiles (``type:
    mcp``, D113): the step's spec is the ``call`` kind's, its target is the namespace's kind's."""

    @property
    def type(self) -> str:
        """The consumed entry's ``type``."""

    def compile(
        self, name: str, consumes: Consumes, target: str, with_: Mapping[str, Any], at: DocPath, context: StepCompiling
    ) -> Step | None:
        """The step calling ``target`` (what follows ``<namespace>.``), or ``None`` after reporting why."""


STEP_KINDS: dict[str, StepKind[Any]] = {}
CONSUMED_CALL_KINDS: dict[str, ConsumedCallKind] = {}


def register_step_kind(kind: StepKind[Any]) -> None:
    """The kind becomes a valid ``steps[].type``: read by the builder, checked by the dialects'
    shape checks, compiled and run."""
    STEP_KINDS[kind.type] = kind
    plugged.STEP_PARSERS[kind.type] = kind.parse
    if kind.shape is not None:
        register_step_shape(kind.type, fixed(kind.shape))


def register_consumed_call_kind(kind: ConsumedCallKind) -> None:
    """Calls into a consumed namespace of ``kind.type`` compile through ``kind`` (steps and simple mode)."""
    CONSUMED_CALL_KINDS[kind.type] = kind
