"""Reloading served files and folders: per-file last good state, and ``--watch`` (issue 14, item 4).

``FileSet`` is the reloader a serve hands to ``Runtime.reload`` (SIGHUP and ``--watch`` alike). It
expands folders again on every load, so added files are served and removed ones stop being served
(their routes answer 404). A file that became invalid keeps serving its last good version, and its
positioned errors are logged: one bad save in an editor must not take a folder's other changes, or
that file's routes, down. A new file that is invalid is left out until it is fixed.

``Watcher`` watches the files and folders (watchfiles: inotify, debounced) in a thread and asks for
a reload when a capability file is added, changed or removed. With workers, the parent watches and
forwards SIGHUP, so each worker reloads on its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from watchfiles import Change, watch

from ..settings import Settings
from .loading import CAPABILITY_SUFFIXES, FileReport, Loaded, LoadedCapability, expand, load_files, place

log = logging.getLogger("naftiko")


class FileSet:
    """The files and folders of one serve, loaded again on each call, each file's last good kept."""

    def __init__(self, paths: Sequence[Path], settings: Settings, environ: Mapping[str, str] | None = None):
        self.paths = list(paths)
        self.settings = settings
        self.environ = environ
        self._good: dict[Path, LoadedCapability] = {}
        self._loaded_once = False

    def __call__(self) -> Loaded:
        files = expand(self.paths)
        if self._loaded_once:
            # A file named on the command line and deleted since is removed, like one in a folder.
            files = [path for path in files if path.exists()]
        reports = [self._choose(report) for report in load_files(files, self.settings, self.environ)]
        kept = set(files)  # a set: a list made 1,000 files half a million path comparisons (D184)
        self._good = {path: good for path, good in self._good.items() if path in kept}
        self._loaded_once = True
        return place([report for report in reports if report is not None], self.settings)

    def _choose(self, report: FileReport) -> FileReport | None:
        """The report to serve for one file: itself when valid, else its last good version on a reload."""
        if report.ok and report.loaded is not None:
            self._good[report.path] = report.loaded
            return report
        if not self._loaded_once:
            return report  # the first load refuses invalid files as before (D5, D32b)
        for diagnostic in report.errors:
            log.error("reload: %s", diagnostic)
        good = self._good.get(report.path)
        if good is None:
            log.error("reload: %s is invalid and new; it is not served until it is fixed", report.path)
            return None
        log.error("reload: %s is invalid; still serving its last good version", report.path)
        return FileReport(report.path, [], good)


def _watched(paths: Sequence[Path]) -> tuple[list[Path], Callable[[Change, str], bool]]:
    """What to watch (folders, and explicit files' folders: editors replace a file by renaming a new
    one over it), and a filter that keeps capability files of a watched folder and the explicit files."""
    folders = {path.resolve() for path in paths if path.is_dir()}
    files = {path.resolve() for path in paths if not path.is_dir()}

    def relevant(change: Change, name: str) -> bool:
        path = Path(name)
        return path in files or (path.parent in folders and path.suffix in CAPABILITY_SUFFIXES)

    return sorted(folders | {path.parent for path in files}), relevant


class Watcher:
    """A daemon thread calling ``on_change`` after each debounced batch of relevant changes."""

    def __init__(self, paths: Sequence[Path], on_change: Callable[[], None], settings: Settings):
        self.roots, self.filter = _watched(paths)
        self.on_change = on_change
        self.settings = settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="naftiko-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.info("watching %s for capability file changes", ", ".join(map(str, self.roots)))

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        for changes in watch(
            *self.roots,
            watch_filter=self.filter,
            debounce=self.settings.watch_debounce_ms,
            step=self.settings.watch_step_ms,
            stop_event=self._stop,
            raise_interrupt=False,
            recursive=False,
        ):
            log.info("changed: %s; reloading", ", ".join(sorted(name for _, name in changes)))
            try:
                self.on_change()
            except Exception:
                log.exception("reload request failed")
