"""Issue 22 item 2 (D169): what a start imports before its ports serve is only what serving needs.
A TOML config file's parser and the load's process pool are imported where they are used, so a
start without a TOML config, or with fewer files than the pool is used for, pays for neither.
Runs a fresh interpreter: the test process has imported everything already."""

from __future__ import annotations

import subprocess
import sys

from support import CAPABILITIES

from naftiko_runtime.serving.loading import PARALLEL_FROM

START_WITHOUT_SERVING = """
import sys
from pathlib import Path
import naftiko_runtime.cli
from naftiko_runtime import Settings, load
from naftiko_runtime.serving.server import Runtime
loaded = load([Path(p) for p in sys.argv[1:]], Settings(), {})
assert not loaded.rejected and loaded.listeners.listeners
Runtime(list(loaded.listeners.listeners.values()), Settings())
print([m for m in ("tomllib", "concurrent.futures.process") if m in sys.modules])
"""


def test_a_start_with_few_files_and_no_toml_config_imports_neither_toml_nor_the_pool() -> None:
    assert len(CAPABILITIES) < PARALLEL_FROM
    done = subprocess.run(
        [sys.executable, "-c", START_WITHOUT_SERVING, *map(str, CAPABILITIES)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
