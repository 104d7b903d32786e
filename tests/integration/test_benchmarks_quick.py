"""The benchmark harness keeps working: ``benchmarks/run.py --quick`` runs and prints its table.

It asserts that the harness runs, never a speed (issue 5): the figures of a quick run on a shared
machine mean nothing.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from support import ROOT


@pytest.mark.slow
def test_quick_benchmark_runs_and_prints_the_table() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "| row | req/s | p50 ms | p99 ms | peak RSS MB | ratio | vs | errors |" in out
    for row in (
        "1. upstream alone",
        "2. Starlette + aiohttp minimal proxy",
        "3. naftiko REST pass-through",
        "4. naftiko REST projecting",
        "5. naftiko MCP tools/call",
        "7. naftiko 10 routes",
        "8. start-up",
        "| server CPU per request",
        "| 11. idle keep-alive connections",
        "Goals (ratios from this run):",
    ):
        assert row in out, out
    assert "failed to start" not in out, out
