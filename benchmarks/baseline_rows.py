"""Rows 3b', 3c' and 3d' (issue 22 item 2): rows 3b, 3c and 3d served by the checkout in
``$NAFTIKO_BENCH_BASELINE``, beside row 3' (the same checkout's pass-through).

    python benchmarks/baseline_rows.py FILE [serve options ...]

The cost of metrics, traces and policies is a ratio to the pass-through of the same code, so a
change to it is shown by both ratios measured in one run: 3b'/3' before and 3b/3 after, and so on.
Each row is skipped, with row 3''s reason, when the variable is unset.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import capgen
from edge_servers import BASELINE

HERE = Path(__file__).resolve().parent

ROWS = (
    ("baseline-metrics", "3b'. metrics, the checkout in $NAFTIKO_BENCH_BASELINE (before)", "metrics"),
    ("baseline-observed", "3c'. metrics + traces (OTLP), the same checkout (before)", "observed"),
    ("baseline-policies", "3d'. every resilience policy on, the same checkout (before)", "policies"),
)
"""Each row's key (for ``--only``), label, and the row of this checkout it repeats."""


def capability(like: str, upstream: str, port: int, control_port: int) -> str:
    """The file the row ``like`` serves, on ``port``."""
    if like == "policies":
        return capgen.single(upstream, port, adapter="rest")
    return capgen.observed(upstream, port, control_port, traced=like == "observed")


def argv(like: str, file: Path, policies: Path) -> list[str]:
    """The command serving ``file`` from the baseline checkout, with row 3d's ``--config`` for ``policies``."""
    extra = ["--config", str(policies)] if like == "policies" else []
    return [sys.executable, str(HERE / "baseline_rows.py"), str(file), *extra]


def main(file: str, *options: str) -> None:
    sys.path.insert(0, os.environ[BASELINE])
    from naftiko_runtime.cli import main as cli

    sys.exit(cli(["serve", file, "--log-level", "WARNING", *options]))


if __name__ == "__main__":
    main(*sys.argv[1:])
