"""Registries of the shapes that grow by kind, keyed by the spec's ``type`` (issue 19, item 3).

The shape table is one definition (``schema``); what it holds for ``exposes[].type``,
``steps.*.type`` and ``authentication.type`` comes from these registries, so that a kind brings
its own shape fragment and its name appears nowhere else in ``spec``:

    from naftiko_runtime.spec.shape_kinds import register_adapter_shape
    from naftiko_runtime.spec.shape_parts import ADAPTER_COMMON, KEBAB
    from naftiko_runtime.spec.shapes import Obj

    register_adapter_shape(
        "grpc", lambda dialect: Obj("grpc adapter", {**ADAPTER_COMMON, "namespace": KEBAB}, ("type", "port"))
    )

A fragment is a function of the dialect's ``Profile`` (a kind may spell its collections with
``profile.many``, its labels with ``profile.label``...) returning the kind's closed ``Obj`` (it
lists the ``type`` key itself), or ``None`` where the kind does not exist in that dialect. The
built-in kinds register theirs in ``shape_parts`` (steps, authentication) and ``shape_adapters``
(rest, mcp, skill, control). Registering replaces a kind of the same name and makes the next
shape check rebuild its table.

Consumed and exposed authentication are separate registries: what a gateway checks is not what
it sends. A shape fragment says what loads; what the runtime does with the kind is the
runtime-side registries' business (``adapters.registry``, the builder's parsers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field

from ..records import dataclass
from .profiles import Profile
from .shapes import Shape

ShapeFragment = Callable[[Profile], Shape | None]
"""One kind's shape in a dialect, or ``None`` where the dialect has no such kind."""


@dataclass
class ShapeRegistry:
    """The shape fragments of one axis, by the value of its ``type`` key."""

    what: str
    """How messages name an entry of this axis: ``adapter``, ``step``, ``authentication``."""
    fragments: dict[str, ShapeFragment] = field(default_factory=dict)

    def register(self, kind: str, fragment: ShapeFragment) -> None:
        global _generation
        self.fragments[kind] = fragment
        _generation += 1

    def unregister(self, kind: str) -> None:
        """Forget a kind (a plugin unloaded, a test's own kind)."""
        global _generation
        self.fragments.pop(kind, None)
        _generation += 1

    def cases(self, profile: Profile) -> dict[str, Shape]:
        """Each registered kind's shape in ``profile``'s dialect, in registration order."""
        built = {kind: fragment(profile) for kind, fragment in self.fragments.items()}
        return {kind: shape for kind, shape in built.items() if shape is not None}


def fixed(shape: Shape) -> ShapeFragment:
    """The fragment of a kind whose shape is the same in every dialect."""

    def fragment(profile: Profile) -> Shape:
        return shape

    return fragment


_generation = 0
ADAPTERS = ShapeRegistry("adapter")
STEPS = ShapeRegistry("step")
CONSUMED_AUTHENTICATION = ShapeRegistry("authentication")
EXPOSED_AUTHENTICATION = ShapeRegistry("authentication")


def generation() -> int:
    """Changes whenever a fragment is registered: the key under which built tables are cached."""
    return _generation


def register_adapter_shape(kind: str, fragment: ShapeFragment) -> None:
    """An ``exposes`` entry of ``type: kind``."""
    ADAPTERS.register(kind, fragment)


def register_step_shape(kind: str, fragment: ShapeFragment) -> None:
    """An orchestration step of ``type: kind`` (the step's ``name`` is added by the dialect)."""
    STEPS.register(kind, fragment)


def register_consumed_auth_shape(kind: str, fragment: ShapeFragment) -> None:
    """A ``consumes[].authentication`` of ``type: kind``: credentials the runtime sends upstream."""
    CONSUMED_AUTHENTICATION.register(kind, fragment)


def register_exposed_auth_shape(kind: str, fragment: ShapeFragment) -> None:
    """An ``exposes[].authentication`` of ``type: kind``: what the gateway checks of its callers."""
    EXPOSED_AUTHENTICATION.register(kind, fragment)
