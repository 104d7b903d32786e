"""Step kinds, keyed by the spec's ``steps[].type`` (issue 19, item 3).

A step kind is one module: how its ``steps`` entry is read into the model (``parse``, for the
spec layer's builder), the shape that entry must have (``shape``, for the dialects' checks), and
how it compiles at load into a ``steps.Step`` whose ``run`` the executor awaits per request. The
compiler and the executor know only this interface; adding a kind is its module and one
``register_step_kind`` (``builtin`` for ours, a plugin's ``register`` for others).
"""

from . import builtin  # noqa: F401  (the specification's own: call, lookup, script; calls into type: mcp)
from .kind import (
    CONSUMED_CALL_KINDS,
    STEP_KINDS,
    ConsumedCallKind,
    StepCompiling,
    StepKind,
    register_consumed_call_kind,
    register_step_kind,
)

__all__ = [
    "CONSUMED_CALL_KINDS",
    "STEP_KINDS",
    "ConsumedCallKind",
    "StepCompiling",
    "StepKind",
    "register_consumed_call_kind",
    "register_step_kind",
]
