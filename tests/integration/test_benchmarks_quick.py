"""The benchmark harness keeps working: ``benchmarks/run.py --quick`` runs and prints its table.

It asserts that the harness runs, never a speed (issue 5): the figures of a quick run on a shared
machine mean nothing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT


@pytest.mark.slow
def test_quick_benchmark_runs_and_prints_the_table(tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--json", str(figures)],
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
        "| 12. idle keep-alive connections",
        "Goals (ratios from this run):",
    ):
        assert row in out, out
    assert "failed to start" not in out, out
    fleet = json.loads(figures.read_text())["fleet"]
    if shutil.which("redis-server") is None or shutil.which("haproxy") is None:
        assert "not installed" in fleet["skipped"], fleet
        return
    assert_fleet_split(fleet)
    assert "| 11. fleet (HAProxy, shared Redis) |" in out, out


def assert_fleet_split(fleet: dict) -> None:
    """Row 11 (issue 22, item 3): every load of the three-instance fleet reached each instance (HAProxy's
    per-server count of 2xx answers), nothing failed anywhere, and the counts add up to the load."""
    assert fleet["skipped"] is None, fleet["skipped"]
    assert fleet["instances"] == ["a", "b", "c"]
    assert fleet["fleet"] and fleet["single"]
    for run in fleet["fleet"]:
        assert set(run["served"]) == {"a", "b", "c"}
        assert all(count > 0 for count in run["served"].values()), run
        assert run["errors"] == 0 and not any(run["failed"].values()), run
    for run in fleet["single"]:
        assert set(run["served"]) == {"a"}, "the single frontend's backend is instance a alone"
        assert run["served"]["a"] > 0 and run["errors"] == 0 and not any(run["failed"].values()), run
