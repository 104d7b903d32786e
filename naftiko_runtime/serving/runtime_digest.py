"""What a load cache entry depends on besides the file's bytes: the runtime's code, its version, the
Python running it, the YAML parser and the loaded plugins (D172).

A file's ``Prepared`` (parse, shape check, translation) is a pure function of the file's bytes and
of these; the digest names the cache's folder, so a runtime that differs in any of them reads none
of another's entries. The runtime's code is judged as Python judges a module's bytecode: each
module file's size and modification time (a ``stat`` of ~190 files, ~3 ms), not its contents (~17
ms to read and hash them all on this machine, at every start).
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import __version__ as ruamel_version

from ..adapters.registry import KindTable
from ..version import __version__
from .plugins import AXES, load_plugins

PACKAGE = Path(__file__).resolve().parent.parent
"""The ``naftiko_runtime`` package folder."""

_memo: dict[tuple[Any, ...], str] = {}


def runtime_digest() -> str:
    """The digest of the runtime as loaded now: computed once per process and per set of
    registered types (a plugin loaded later changes it)."""
    registered = _registered()
    digest = _memo.get(registered)
    if digest is None:
        digest = _memo[registered] = _digest(registered)
    return digest


def _registered() -> tuple[Any, ...]:
    """What the plugins add to the shape checks and the translation: each loaded plugin's
    registrations by name, and the module of every registered type defined outside the runtime.
    The runtime's own types are left out: its module files are in the digest already, and a
    built-in kind registered when a file first uses it must not make a second digest of the same
    runtime."""
    added = tuple(sorted((*key, tuple(names)) for key, names in load_plugins().items()))
    modules = {_defined_in(kind) for axis in AXES.values() for kind in _kinds_of(axis.table)}
    return added, tuple(sorted(m for m in modules if not m.startswith(f"{PACKAGE.name}.")))


def _kinds_of(table: Mapping[str, Any]) -> Iterable[Any]:
    """A table's types without importing the adapter kinds a file has not used yet (D170)."""
    return table.registered() if isinstance(table, KindTable) else table.values()


def _defined_in(kind: Any) -> str:
    """The module of a registered type's class (or of the class itself)."""
    return str(getattr(kind if isinstance(kind, type) else type(kind), "__module__", ""))


def _digest(registered: tuple[Any, ...]) -> str:
    hasher = hashlib.blake2b(digest_size=12)
    hasher.update(f"{__version__}\0{sys.implementation.cache_tag}\0{sys.version}\0{ruamel_version}".encode())
    hasher.update(repr(registered).encode())
    for path in _code_files(registered):
        try:
            stat = path.stat()
        except OSError:
            hasher.update(f"{path}\0missing\n".encode())
            continue
        hasher.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return hasher.hexdigest()


def _code_files(registered: tuple[Any, ...]) -> list[Path]:
    """The package's module files, and the module file of each plugin's registered type, sorted."""
    files = [
        Path(folder, name)
        for folder, _, names in os.walk(PACKAGE)
        for name in names
        if name.endswith(".py") and "__pycache__" not in folder
    ]
    for module_name in registered[1]:
        module_file = getattr(sys.modules.get(module_name), "__file__", None)
        if module_file:
            files.append(Path(module_file))
    return sorted(files)
