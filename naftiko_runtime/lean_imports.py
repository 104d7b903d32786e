"""What a server imports only because a library imports it for a use of its own (D180).

``import httpx`` ends with ``from ._main import main``, its command-line client, inside a
``try`` that falls back to a stub when the client's dependencies are missing. Where click,
pygments and rich are all installed (rich comes with many tools: ``mcp[cli]``, typer,
schemathesis), that imports the three of them: ~125 M instructions, ~5% of a 21-file cold start,
for a function this process never calls (the ``httpx`` console script runs in a process of its
own). Marking ``httpx._main`` absent before httpx is first imported makes httpx take its own
fallback; nothing else of httpx changes, and a process that imported httpx before this package
keeps httpx's client as it was.
"""

from __future__ import annotations

import sys

HTTPX_CLI = "httpx._main"


def skip_httpx_cli() -> None:
    """Before httpx's first import in this process: its command-line client is not imported."""
    if "httpx" not in sys.modules:
        sys.modules.setdefault(HTTPX_CLI, None)  # type: ignore[arg-type]  # None: the import system's "absent"


skip_httpx_cli()  # the package imports this module first, before any module that imports httpx
