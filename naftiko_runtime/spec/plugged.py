"""The part of the spec's vocabulary that grows by registration: step, authentication and adapter
types, and response formats (issue 19, items 3 and 4).

The spec layer cannot import the layers that implement these (``core.stepkinds``,
``core.consumed_auth``, ``core.codecs``, ``adapters.auth.types``, ``adapters.registry``); they
register here what the model needs to know - a type's name, how to read its entry into the model
(the shapes their entries must have go to ``shape_kinds``) - and keep the rest (compiling, running,
sending, checking callers) to themselves. The tables start empty: the built-in kinds register
like any plugin's, when their layer is imported.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from ..records import dataclass
from .diagnostics import DocPath
from .model import StepSpec
from .shape_kinds import ShapeRegistry, fixed
from .shapes import Context, Path, Shape, Str

StepParser = Callable[[Any, dict[str, Any], DocPath, str], StepSpec | None]
"""Reads one ``steps`` entry of its type into the model: (builder, entry, position, step name).
The builder is ``composition.Builder``: typed accessors that report what they cannot use."""

STEP_PARSERS: dict[str, StepParser] = {}
"""Step types by the spec's ``steps[].type``."""
CONSUMED_AUTH: dict[str, tuple[str, ...]] = {}
"""Authentication a consumed API may declare (what the runtime sends), by ``type``: the fields
without which the block counts as absent (D13, D33)."""
EXPOSED_AUTH: dict[str, tuple[str, ...]] = {}
"""Authentication an exposed adapter may declare (what a gateway checks), by ``type``: a registry
of its own, so that a type the runtime can send is not thereby one it can check (issue 19)."""
FORMATS: set[str] = set()
"""Registered ``outputRawFormat`` names."""


def add_auth(
    side: dict[str, tuple[str, ...]], shapes: ShapeRegistry, name: str, fields: tuple[str, ...], shape: Shape | None
) -> None:
    """An authentication type on one side (``CONSUMED_AUTH`` or ``EXPOSED_AUTH``) and, for a
    plugin's type, its block's shape in that side's shape registry (``shape_kinds``)."""
    side[name] = fields
    if shape is not None:
        shapes.register(name, fixed(shape))


@dataclass(frozen=True, eq=False)
class RegisteredName(Shape):
    """A name from the dialect's own list, or one a plugin registered since (a response format).
    Read at check time, so that a format registered after the table was built is known; the
    names the specification owns (``reserved``) come only from the dialect's list."""

    names: tuple[str, ...]
    registered: Collection[str]
    reserved: tuple[str, ...]

    def check(self, v: object, path: Path, ctx: Context) -> None:
        plugged = tuple(sorted(n for n in self.registered if n not in self.reserved))
        Str(enum=self.names + plugged).check(v, path, ctx)
