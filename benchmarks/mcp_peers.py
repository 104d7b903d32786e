"""The MCP peers of rows 6 and 6b (issue 22): FastMCP 4.x and, kept for the record, 2.14.x.

Each FastMCP pins an ``mcp`` other than the runtime's (4.x also brings ``httpx2``), so each runs
from a virtualenv of its own, which ``--setup`` creates. A peer whose virtualenv is missing, or
holds another major version, is a row skipped with the reason, never a wrong comparison.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class FastMcpPeer:
    key: str
    """The row's key for ``--only``."""
    row: str
    """The row's number in the table (README's row table)."""
    venv: Path
    requirement: str
    """What ``--setup`` installs, with uvloop and httptools (uvicorn's fast loop and parser, as ours)."""
    major: str
    script: str
    """The server, in this directory: ``PYTHON SCRIPT PORT UPSTREAM_URL``."""
    quick: bool
    """Also in ``--quick``: no peer is, since FastMCP takes seconds to import and answers a call in
    about a second on a loaded machine, so one second of load may finish none (a ratio over 0)."""

    def locate(self, setup: bool) -> tuple[str | None, str]:
        """The peer's Python and FastMCP's version, or ``None`` and why the row is skipped."""
        python = self.venv / "bin" / "python"
        if not python.exists() and setup:
            print(f"setting up {self.venv} ({self.requirement}) ...", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "venv", str(self.venv)], check=False)
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", self.requirement, "uvloop", "httptools"],
                check=False,
                timeout=600,
            )
        if not python.exists():
            return None, f"no {self.venv} (run with --setup)"
        probe = [str(python), "-c", "import fastmcp, sys; sys.stdout.write(fastmcp.__version__)"]
        found = subprocess.run(probe, capture_output=True, text=True)
        if found.returncode != 0:
            return None, f"fastmcp is not importable in {self.venv} (pip install '{self.requirement}' there)"
        version = found.stdout.strip()
        if not version.startswith(self.major):
            return None, f"fastmcp {version} in {self.venv}; this peer is {self.major}x"
        return str(python), version

    def label(self, version: str) -> str:
        return f"{self.row}. FastMCP {version} from_openapi tools/call"

    def argv(self, python: str, port: int, upstream_url: str) -> list[str]:
        return [python, str(HERE / self.script), str(port), upstream_url]


PEERS = (
    FastMcpPeer(
        "fastmcp",
        "6",
        Path(os.environ.get("NAFTIKO_BENCH_VENV_FASTMCP4", "/work/bench-venv-fastmcp4")),
        "fastmcp>=4,<5",
        "4.",
        "fastmcp4_server.py",
        False,
    ),
    FastMcpPeer(
        "fastmcp2",
        "6b",
        Path(os.environ.get("NAFTIKO_BENCH_VENV", "/work/bench-venv")),
        "fastmcp>=2.14,<3",
        "2.",
        "fastmcp_server.py",
        False,
    ),
)
"""Row 5's ratio is taken against the first: the issue's goal is against the current FastMCP."""
