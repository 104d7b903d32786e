"""What a start runs before its ports serve, in one process, for counting (issue 22 item 2, D169).

Row 8 (``startup.py``) times a whole ``naftiko serve`` on a shared machine, where its CPU seconds
move by ~0.2 s between runs of the same code; a change worth a few percent is seen only in the
instructions. This runs the same path as ``serve`` up to binding: the imports, the files loaded
(collector paused, the load frozen and its cache entries held, as ``serve`` does, D181) and the
ports' ``Runtime`` built; then the held entries are written, as a serve writes them once it
serves, so that the next run is warm (the count includes them: ~1.5% of a cold 21-file count).
Run it from a checkout's folder to count that checkout (its package comes first on the path), its
bytecode written first (``python -m compileall -q naftiko_runtime``), e.g.:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python benchmarks/start_path.py --files 21
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from tempfile import mkdtemp

sys.path[:0] = [os.getcwd(), str(Path(__file__).resolve().parent)]

import capgen  # noqa: E402

import naftiko_runtime.cli  # noqa: E402  (what `naftiko serve` imports first)
from naftiko_runtime.serving.load_cache import HELD  # noqa: E402
from naftiko_runtime.serving.loading import collector_paused, load  # noqa: E402
from naftiko_runtime.serving.server import Runtime  # noqa: E402
from naftiko_runtime.settings import Settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=21, help="Polytomic files (capgen's set)")
    args = parser.parse_args()
    files = capgen.polytomic_set(Path(mkdtemp(prefix="start-path-")), args.files)
    with collector_paused(freeze_loaded=True), HELD.held():  # the entries written once serving (D181)
        loaded = load(files, Settings(), {"POLYTOMIC_API_KEY": "start-path"})
    if loaded.rejected:
        raise SystemExit(f"rejected: {[str(report.path) for report in loaded.rejected]}")
    Runtime(list(loaded.listeners.listeners.values()), Settings())
    print(f"{naftiko_runtime.cli.__file__}: {args.files} files loaded, {len(loaded.listeners.listeners)} ports built")
    HELD.write()  # as a serve does once its ports serve: the next run is a warm start


if __name__ == "__main__":
    main()
