"""Issue 3, acceptance 6: the official MCP Inspector CLI against the served endpoint.

Inspector 0.16.2 is pinned: the newest line that still runs on Node 20 (later ones require 22).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from polytomic_cases import SYNC_ID

INSPECTOR = "@modelcontextprotocol/inspector@0.16.2"
CACHE = Path.home() / ".cache" / "naftiko-runtime-tests" / "inspector-0.16.2"

# The inspector's install (up to 300 s) counts towards the first test's timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def inspector() -> Path:
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node and npm are not installed: the MCP Inspector CLI cannot run")
    binary = CACHE / "node_modules" / ".bin" / "mcp-inspector"
    if not binary.exists():
        done = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(CACHE), INSPECTOR],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0 or not binary.exists():
            pytest.skip(f"could not install {INSPECTOR} from the npm registry: {done.stderr[-300:]}")
    return binary


def run_inspector(binary: Path, url: str, *args: str) -> dict:
    done = subprocess.run(
        [str(binary), "--cli", url, "--transport", "http", *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_inspector_lists_and_calls_tools(inspector, polytomic, upstream):
    url = polytomic.url(9090) + "/mcp"
    listed = run_inspector(inspector, url, "--method", "tools/list")
    assert len(listed["tools"]) == 23
    called = run_inspector(
        inspector, url, "--method", "tools/call", "--tool-name", "get-sync", "--tool-arg", f"id={SYNC_ID}"
    )
    assert called["isError"] is False
    assert called["structuredContent"]["data"]["path"] == f"/api/syncs/{SYNC_ID}"
    assert upstream.last.path == f"/api/syncs/{SYNC_ID}"
