"""The load cache (D172): a file's ``Prepared`` kept on disk, as Python keeps a module's bytecode.

Parsing, shape-checking and translating a capability file is a pure function of its bytes and of
the runtime (``runtime_digest``), and it is most of a file's load (~5 of ~9 ms). An entry is
that result for one content: ``<folder>/<runtime digest>/<digest of the file's bytes>``. A
restart with unchanged files reads each entry instead of parsing; a changed byte is another
name, a changed runtime another folder. Entries hold plain data written by ``marshal`` (no
code runs on reading, unlike ``pickle``), behind a checksum of their own: an entry that is
missing, short, corrupted or of another format is a miss, never an error. The file's text is not
stored: it is decoded from the bytes read for the digest, and diagnostics take their positions
from it as without the cache. Nothing resolved from the environment is stored (binds are
resolved after, D172).

Only a folder owned by this user (or root) and writable by no one else is read: another user
could otherwise plant entries. A folder that cannot be made, is not safe or cannot be written to
costs one log line and the load goes on without the cache (or without writing to it).

Growth is bounded twice: besides the runtime's own folder, only the ``OTHER_RUNTIMES_KEPT`` other
runtimes' folders opened last are kept (opening a new one removes the older ones, D172a), and a
load that wrote entries removes those it did not use once the folder holds more than
``KEPT_PER_USED`` times as many as it used plus ``SLACK``.

A serve's own load does not write its entries on the way to its ports (D181): they are encoded
then, and written by ``HELD`` once the ports serve, or at the latest when the serve ends.
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import field
from pathlib import Path
from typing import Any

from ..records import dataclass
from ..settings import LOAD_CACHE_OFF, Settings
from ..spec.diagnostics import Finding, Severity
from ..spec.dialects import Dialect
from ..spec.imports import Prepared
from ..spec.source import MAX_FILE_BYTES, SourceDocument
from .runtime_digest import runtime_digest

log = logging.getLogger("naftiko")

FORMAT = 1
"""The layout of an entry's tuple; the runtime digest changes with the code anyway."""
MAGIC = b"NAFTIKO-LOAD\x01"
CHECKSUM_BYTES = 16
MARSHAL_VERSION = 4
"""Shared objects stay shared (a translated document shares its leaves with the file's data)."""
KEPT_PER_USED = 2
OTHER_RUNTIMES_KEPT = 2
"""Other runtimes' folders kept, the ones opened last (D172a): two installations sharing one cache
folder, or an upgrade and its rollback, keep each other's entries instead of evicting them at
every start, and a developer's edits (each a new runtime digest) leave at most this many behind."""
SLACK = 256
_warned: set[str] = set()


def content_key(raw: bytes) -> str:
    return hashlib.blake2b(raw, digest_size=20).hexdigest()


def default_root(environ: dict[str, str] | os._Environ[str] = os.environ) -> Path:
    """``$XDG_CACHE_HOME/naftiko-runtime/load``, else ``~/.cache/naftiko-runtime/load``."""
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "naftiko-runtime" / "load"


@dataclass
class LoadCache:
    """One runtime's folder of entries. Picklable: the load workers write the entries they make."""

    folder: Path
    writable: bool = True
    used: set[str] = field(default_factory=set)
    """The keys of the files this load read, hits and misses."""
    missed: int = 0
    held: HeldEntries | None = None
    """Where ``store`` leaves its entries to be written later (D181); ``None``: written at once."""

    def for_workers(self) -> LoadCache:
        """The folder alone, as each batch of files sent to a load worker carries it."""
        return LoadCache(self.folder, self.writable)

    def fetch(self, path: Path) -> Prepared | None:
        """The file's ``Prepared`` from its entry, or ``None`` (a miss: the caller prepares it)."""
        try:
            raw = path.read_bytes()
            if len(raw) > MAX_FILE_BYTES:
                return None
            key = content_key(raw)
            self.used.add(key)
            entry = (self.folder / key).read_bytes()
            prepared = _decoded(entry, SourceDocument(path, raw.decode("utf-8-sig"), None))
        except (OSError, ValueError, EOFError, TypeError, IndexError, KeyError):
            prepared = None
        if prepared is None:
            self.missed += 1
        return prepared

    def store(self, raw: bytes, prepared: Prepared) -> None:
        """The entry of ``raw``'s content, written now or held (D181); one that cannot be encoded
        (a YAML date: marshal knows no ``datetime``) or written is skipped, the load unchanged."""
        if not self.writable:
            return
        key = content_key(raw)
        try:
            # Encoded now, whenever written: the entry is the load's result as it was made.
            payload = marshal.dumps(_plain(prepared), MARSHAL_VERSION)
        except ValueError:
            return
        if self.held is not None:
            self.held.add(self, key, payload)
        else:
            self.write(key, payload)

    def write(self, key: str, payload: bytes) -> None:
        """The entry ``key`` on disk, whole or not at all (a temporary file renamed over it)."""
        if not self.writable:
            return
        temporary = self.folder / f".{key}.{os.getpid()}.tmp"
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as out:
                out.write(MAGIC + hashlib.blake2b(payload, digest_size=CHECKSUM_BYTES).digest() + payload)
            os.replace(temporary, self.folder / key)
        except OSError as exc:
            self.writable = False
            _warn_once(str(self.folder), f"load cache {self.folder}: cannot write ({exc.strerror}); not writing to it")
            temporary.unlink(missing_ok=True)

    def prune(self) -> None:
        """After a load that missed (and so wrote) entries: drop those it did not use once they
        outnumber it."""
        if not self.missed or not self.writable:
            return
        try:
            names = [entry.name for entry in os.scandir(self.folder) if entry.is_file()]
            if len(names) <= KEPT_PER_USED * len(self.used) + SLACK:
                return
            for name in names:
                if name not in self.used:
                    (self.folder / name).unlink(missing_ok=True)
        except OSError:
            return


class HeldEntries:
    """The entries a serve's load made, written once its ports serve (D181).

    A cold start encodes each file's entry as it loads the file, but writing it (its checksum, a
    temporary file, a rename: ~0.2 ms a file) is nothing the ports need: ``held`` keeps the
    entries of the loads it is open around, and ``write`` writes them, once each, from any thread:
    the runtime's task a moment after the ports serve, and ``naftiko serve`` as it returns, so a
    serve stopped at once still leaves them. A forked load worker writes its own at once (its
    ``LoadCache`` holds none)."""

    def __init__(self) -> None:
        self.holding = False
        self._entries: list[tuple[LoadCache, str, bytes]] = []
        self._lock = threading.Lock()

    @contextmanager
    def held(self) -> Iterator[None]:
        """While open, the load caches opened in this process hold their entries here."""
        self.holding = True
        try:
            yield
        finally:
            self.holding = False

    @property
    def pending(self) -> bool:
        return bool(self._entries)

    def add(self, cache: LoadCache, key: str, payload: bytes) -> None:
        with self._lock:
            self._entries.append((cache, key, payload))

    def write(self) -> None:
        """Every entry held so far, written; a second call (another thread's) finds none left."""
        with self._lock:
            for cache, key, payload in self._entries:
                cache.write(key, payload)
            self._entries.clear()


HELD = HeldEntries()
"""The process's held entries (a serve loads its files once before its ports serve)."""


def open_load_cache(settings: Settings) -> LoadCache | None:
    """The serve's cache, or ``None`` when it is off or its folder is unusable (one log line)."""
    if settings.load_cache == LOAD_CACHE_OFF:
        return None
    root = Path(settings.load_cache) if settings.load_cache else default_root()
    folder = root / runtime_digest()
    try:
        fresh = not folder.is_dir()
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.mkdir(mode=0o700, exist_ok=True)
        for place in (root, folder):
            problem = _unsafe(place)
            if problem:
                _warn_once(str(root), f"load cache {place}: {problem}; loading without it")
                return None
    except OSError as exc:
        if not folder.is_dir():
            _warn_once(str(root), f"load cache {root}: cannot create it ({exc.strerror}); loading without it")
            return None
    writable = os.access(folder, os.W_OK)
    if fresh and writable:
        _remove_other_runtimes(root, folder.name)
    elif writable:
        _opened_now(folder)
    return LoadCache(folder, writable, held=HELD if HELD.holding else None)


def _unsafe(folder: Path) -> str | None:
    """Why entries in ``folder`` could have been written by someone else, if they could."""
    stat = folder.stat()
    if stat.st_uid not in (os.getuid(), 0):
        return f"owned by uid {stat.st_uid}, not this user"
    if stat.st_mode & 0o022:
        return f"writable by others (mode {stat.st_mode & 0o777:o})"
    return None


def _remove_other_runtimes(root: Path, kept: str) -> None:
    """Another runtime's entries are never read by this one: of the other runtimes' folders, only
    the ``OTHER_RUNTIMES_KEPT`` opened last stay (D172a); a folder's time is that of its last
    opening (``_opened_now``) or entry written."""
    try:
        others = [
            (entry.stat().st_mtime, entry.path)
            for entry in os.scandir(root)
            if entry.is_dir() and entry.name != kept and _is_runtime_folder(entry.name, kept)
        ]
    except OSError:
        return
    others.sort(reverse=True)
    for _, other in others[OTHER_RUNTIMES_KEPT:]:
        shutil.rmtree(other, ignore_errors=True)


def _is_runtime_folder(name: str, kept: str) -> bool:
    """A name ``runtime_digest`` could have made: anything else in the folder is not ours to remove."""
    return len(name) == len(kept) and all(c in "0123456789abcdef" for c in name)


def _opened_now(folder: Path) -> None:
    """The folder's time set to now: a warm start writes no entry, yet its runtime is in use."""
    try:
        os.utime(folder)
    except OSError:
        return


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message)


def _plain(prepared: Prepared) -> tuple[Any, ...]:
    """What marshal writes: plain tuples, the shape findings by value, the translated data apart
    only when the translation made new data."""
    source_data = prepared.source.data
    translated = None if prepared.data is source_data else prepared.data
    findings = tuple((f.severity.value, f.at, f.message) for f in prepared.shape)
    return (FORMAT, prepared.dialect.key, prepared.dialect.version, findings, source_data, translated, prepared.origins)


def _decoded(entry: bytes, source: SourceDocument) -> Prepared | None:
    """``entry``'s ``Prepared`` for ``source`` (its data filled in), or ``None`` if it is not one."""
    head = len(MAGIC) + CHECKSUM_BYTES
    if entry[: len(MAGIC)] != MAGIC:
        return None
    payload = entry[head:]
    if hashlib.blake2b(payload, digest_size=CHECKSUM_BYTES).digest() != entry[len(MAGIC) : head]:
        return None
    layout, key, version, findings, data, translated, origins = marshal.loads(payload)
    if layout != FORMAT or not isinstance(origins, dict):
        return None
    source.data = data
    shape = [Finding(Severity(severity), tuple(at), message) for severity, at, message in findings]
    return Prepared(source, Dialect(key, version), shape, data if translated is None else translated, origins)
