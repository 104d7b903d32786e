"""The step kinds of the specification, registered like any plugin's."""

from __future__ import annotations

from .call import CallKind
from .kind import register_step_kind
from .lookup import LookupKind
from .script import ScriptKind

for _kind in (CallKind(), LookupKind(), ScriptKind()):
    register_step_kind(_kind)
