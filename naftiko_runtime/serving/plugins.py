"""Plugins: packages that add step kinds, response formats, authentication types or adapter kinds
without editing ``naftiko_runtime`` (issue 19, item 4).

A plugin declares an entry point in the group ``naftiko_runtime.plugins`` naming a function that
takes a ``Plugins`` and registers through it, for example in its ``pyproject.toml``::

    [project.entry-points."naftiko_runtime.plugins"]
    demo = "naftiko_demo_plugin:register"

Plugins are loaded once per process before the first file is (``loading.load``), so that the
dialects' shape checks, the builder, the compiler and the server all see their types. A plugin
that cannot be imported, that is not such a function, that raises, that registers something
without the interface, or that takes a type already registered stops the load with a
``PluginError`` naming the distribution, the entry point and why; never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from ..adapters.auth.types import EXPOSED_AUTH, ExposedAuthType, register_exposed_auth
from ..adapters.base import AdapterKind
from ..adapters.registry import KINDS, register_adapter_kind
from ..core.codecs import DECODERS, Format, register_format
from ..core.consumed_auth import CONSUMED_AUTH, ConsumedAuthType, register_consumed_auth
from ..core.stepkinds import STEP_KINDS, StepKind, register_step_kind
from ..records import dataclass

GROUP = "naftiko_runtime.plugins"


class PluginError(Exception):
    """Every plugin that could not be loaded, one ``plugin ...: why`` a line."""


class _Refused(Exception):
    """One registration refused; the loader adds which plugin and entry point made it."""


@dataclass(frozen=True)
class _Axis:
    what: str
    """How a message names one of its kinds: ``step kind``, ``response format``."""
    table: Mapping[str, Any]
    register: Callable[[Any], None]
    needs: tuple[str, ...]
    """The attributes its interface requires (the type's name first)."""


AXES = {
    "step_kind": _Axis("step kind", STEP_KINDS, register_step_kind, ("type", "shape", "parse", "compile")),
    "response_format": _Axis("response format", DECODERS, register_format, ("format", "name", "build")),
    "consumed_auth": _Axis(
        "consumed authentication type",
        CONSUMED_AUTH,
        register_consumed_auth,
        ("type", "needed", "shape", "credentials"),
    ),
    "exposed_auth": _Axis(
        "exposed authentication type", EXPOSED_AUTH, register_exposed_auth, ("type", "secrets", "shape", "gate")
    ),
    "adapter_kind": _Axis(
        "adapter kind",
        KINDS,
        register_adapter_kind,
        ("type", "features", "reference_roots", "shape", "port_alone", "parse", "claims", "mount", "describe"),
    ),
}


@dataclass
class Plugins:
    """What a plugin's entry point is given: one method per axis the runtime grows on. A type
    already registered (ours or another plugin's) is refused, never replaced."""

    added: list[str] = field(default_factory=list)
    """``<axis> '<type>'`` for each registration, for ``naftiko`` to report."""

    def step_kind(self, kind: StepKind[Any]) -> None:
        self._add("step_kind", kind)

    def response_format(self, response_format: Format) -> None:
        self._add("response_format", response_format)

    def consumed_auth(self, kind: ConsumedAuthType) -> None:
        self._add("consumed_auth", kind)

    def exposed_auth(self, kind: ExposedAuthType) -> None:
        self._add("exposed_auth", kind)

    def adapter_kind(self, kind: AdapterKind) -> None:
        self._add("adapter_kind", kind)

    def _add(self, axis_name: str, kind: Any) -> None:
        axis = AXES[axis_name]
        missing = [name for name in axis.needs if not hasattr(kind, name)]
        if missing:
            raise _Refused(f"its {axis.what} {kind!r} lacks {', '.join(missing)}")
        name = getattr(kind, axis.needs[0])
        if not isinstance(name, str) or not name:
            raise _Refused(f"its {axis.what} {kind!r} has no name ('{axis.needs[0]}' must be a non-empty string)")
        if name in axis.table:
            raise _Refused(f"{axis.what} '{name}' is already registered")
        axis.register(kind)
        self.added.append(f"{axis.what} '{name}'")


_LOADED: dict[tuple[str, str], list[str]] = {}
"""Each loaded entry point (distribution, name) and what it added: loading is once per process."""


_SCANNED: list[bool] = []
"""Set once every installed plugin loaded: the entry points are not scanned again (reloads)."""


def load_plugins(found: Iterable[EntryPoint] | None = None) -> dict[tuple[str, str], list[str]]:
    """Load every installed plugin (or those ``found``) not loaded yet; raises ``PluginError``
    listing each that failed."""
    if found is None and _SCANNED:
        return dict(_LOADED)
    problems: list[str] = []
    for entry in entry_points(group=GROUP) if found is None else found:
        distribution = entry.dist.name if entry.dist is not None else "(no distribution)"
        key = (distribution, entry.name)
        if key in _LOADED:
            continue
        plugins = Plugins()
        try:
            register = entry.load()
            if not callable(register):
                raise _Refused(f"'{entry.value}' is a {type(register).__name__}, not a function register(plugins)")
            register(plugins)
        except _Refused as exc:
            problems.append(_problem(distribution, entry, str(exc)))
            continue
        except Exception as exc:  # a plugin's own fault, whatever it is: reported, never a traceback
            problems.append(_problem(distribution, entry, f"{type(exc).__name__}: {exc}"))
            continue
        _LOADED[key] = plugins.added
    if problems:
        raise PluginError("\n".join(problems))
    if found is None:
        _SCANNED.append(True)
    return dict(_LOADED)


def _problem(distribution: str, entry: EntryPoint, why: str) -> str:
    return f"naftiko: plugin '{distribution}', entry point '{entry.name} = {entry.value}' ({GROUP}): {why}"
