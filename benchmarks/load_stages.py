"""Where one capability file's load goes, stage by stage, in one process (issue 22 item 2).

Row 8 (``startup.py``) times a whole ``naftiko serve``; this splits the per-file work it is made of:
the parse, the shape check and the translation (the load workers' share), the result's pickle
round trip, and the model, plans and placing (the main process's share); and the load cache's
``store`` (a cold start) and ``fetch`` (a warm start's stand-in for the first three, D172). Run it from a checkout's
folder to measure that checkout (its package comes first on the path), e.g. a baseline and this
tree one after another:

    python benchmarks/load_stages.py --files 100 --repeat 5       # CPU ms a file, the best of 5
    valgrind --tool=callgrind python benchmarks/load_stages.py --stage shape --files 30
    valgrind --tool=callgrind python benchmarks/load_stages.py --stage shape --files 30 --setup-only

With ``--stage``, the instructions of that stage alone are the difference between the two
callgrind runs (the collector is off, as in a load, so the difference is the stage's own work).
"""

from __future__ import annotations

import argparse
import gc
import os
import pickle
import sys
import time
from collections.abc import Callable
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

sys.path[:0] = [os.getcwd(), str(Path(__file__).resolve().parent)]

import capgen  # noqa: E402

from naftiko_runtime.serving import loading  # noqa: E402
from naftiko_runtime.serving.load_cache import LoadCache  # noqa: E402
from naftiko_runtime.settings import Settings  # noqa: E402
from naftiko_runtime.spec.dialects import check_shape, detect, translate_up  # noqa: E402
from naftiko_runtime.spec.imports import Composer, prepare  # noqa: E402
from naftiko_runtime.spec.source import read_source  # noqa: E402

ENVIRON = {"POLYTOMIC_API_KEY": "stages"}
STAGES = ("parse", "shape", "translate", "pickle", "unpickle", "model", "place", "store", "fetch")
CACHED = ("store", "fetch")
"""The load cache's stages (D172): a cold start's workers also ``store`` an entry; a warm start
``fetch``es it (read, checksum, unmarshal) instead of the parse, shape check and translation."""


def _model(prepared: Any, settings: Settings) -> loading.FileReport:
    """The main process's share of one file: its model, binds and plans."""
    return loading.load_source(prepared.source, settings, ENVIRON, composer=Composer(), prepared=prepared)


def _stages(files: list[Path]) -> dict[str, tuple[Callable[[Any], Any], Callable[[], Any]]]:
    """Each stage as (run it on the previous stage's result, what it needs made beforehand)."""
    settings = Settings()
    sources = lambda: [read_source(f) for f in files]  # noqa: E731
    prepared = lambda: [prepare(s) for s in sources()]  # noqa: E731
    cache = LoadCache(Path(mkdtemp(prefix="load-stages-cache-")))
    store = lambda preps: [cache.store(f.read_bytes(), p) for f, p in zip(files, preps, strict=True)]  # noqa: E731
    return {
        "parse": (lambda _: [read_source(f) for f in files], lambda: None),
        "shape": (lambda srcs: [check_shape(s.data, detect(s.data)) for s in srcs], sources),
        "translate": (lambda srcs: [translate_up(s.data, detect(s.data)) for s in srcs], sources),
        "pickle": (lambda preps: [pickle.dumps(p) for p in preps], prepared),
        "unpickle": (lambda blobs: [pickle.loads(b) for b in blobs], lambda: [pickle.dumps(p) for p in prepared()]),
        "model": (lambda preps: [_model(p, settings) for p in preps], prepared),
        "place": (
            lambda reports: loading.place(reports, settings),
            lambda: [_model(p, settings) for p in prepared()],
        ),
        "store": (store, prepared),
        "fetch": (lambda _: [cache.fetch(f) for f in files], lambda: store(prepared())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100, help="Polytomic files (capgen's set)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each stage; the best counts")
    parser.add_argument("--stage", choices=STAGES, help="run this stage once (for callgrind)")
    parser.add_argument("--setup-only", action="store_true", help="with --stage: what it needs, not the stage")
    args = parser.parse_args()
    files = capgen.polytomic_set(Path(mkdtemp(prefix="load-stages-")), args.files)
    loading.load_plugins()
    gc.disable()
    stages = _stages(files)
    if args.stage:
        run, needs = stages[args.stage]
        made = needs()
        if not args.setup_only:
            run(made)
        return
    figures = {}
    for name, (run, needs) in stages.items():
        made, best = needs(), float("inf")
        for _ in range(args.repeat):
            began = time.process_time()
            run(made)
            best = min(best, time.process_time() - began)
        figures[name] = best * 1000 / len(files)
    print(f"{loading.__file__.rsplit('/naftiko_runtime/', 1)[0]}: CPU ms a file, best of {args.repeat}")
    uncached = sum(ms for name, ms in figures.items() if name not in CACHED)
    warm = figures["fetch"] + figures["model"] + figures["place"]
    print("  " + "  ".join(f"{name} {ms:.2f}" for name, ms in figures.items()) + f"  total {uncached:.2f}")
    print(f"  a warm start's file (fetch, model, place): {warm:.2f}")


if __name__ == "__main__":
    main()
