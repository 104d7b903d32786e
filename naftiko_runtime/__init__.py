"""naftiko-runtime: serve declarative Naftiko capability files as live REST and MCP servers.

The path of a request reads top to bottom through the package's layers, each importing only
from those below it: ``spec`` (YAML with positions -> the typed model) -> ``core`` (plans compiled
once; one execution path to the upstream) -> ``adapters`` (REST, MCP: thin protocol handlers over
the core) -> ``serving`` (files on ports, servers, signals) -> ``cli`` and this public API.

Embedding::

    from naftiko_runtime import Settings, load, serve

    settings = Settings(port_offset=1000)
    loaded = load([Path("capabilities/polytomic-subpackage-modelsync.yaml")], settings)
    for diagnostic in loaded.diagnostics:
        print(diagnostic)
    if not loaded.rejected:
        serve(loaded.listeners, settings)          # blocks; or run `Runtime(...)` in your own loop

Imported before httpx, the package keeps httpx's command-line client (``httpx.main``, with click,
pygments and rich) unimported in the process (D180): run the ``httpx`` command in a process of its
own, or import httpx first.
"""

from . import lean_imports  # noqa: F401  (first: httpx's command-line client stays unimported, D180)
from .serving.loading import FileReport, Loaded, load
from .serving.server import PortUnavailable, Runtime, serve
from .settings import Settings
from .spec.diagnostics import Diagnostic, Severity
from .version import __version__

__all__ = [
    "Diagnostic",
    "FileReport",
    "Loaded",
    "PortUnavailable",
    "Runtime",
    "Settings",
    "Severity",
    "__version__",
    "load",
    "serve",
]
