"""The load cache (D172): a file's parse, shape check and translation kept on disk by the digest of its
bytes, in a folder per runtime. A hit gives what parsing gives; anything stale, damaged or unsafe is
a miss or no cache at all, never an error, and the diagnostics are the same either way."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import CAPABILITIES, SHARED

from naftiko_runtime.serving import load_cache
from naftiko_runtime.serving.load_cache import FORMAT, MAGIC, LoadCache, content_key, open_load_cache
from naftiko_runtime.serving.loading import FileReport, load_files
from naftiko_runtime.settings import Settings
from naftiko_runtime.spec.diagnostics import Finding
from naftiko_runtime.spec.dialects import detect
from naftiko_runtime.spec.imports import Prepared, prepare
from naftiko_runtime.spec.source import SourceDocument, read_source

CORPUS = [*CAPABILITIES, *sorted((SHARED / "reference").rglob("*.y*ml"))] if SHARED.is_dir() else list(CAPABILITIES)
ENVIRON = {"POLYTOMIC_API_KEY": "k"}
PORTED = "naftiko: 1.0.0-alpha2\ncapability:\n  exposes:\n    - type: rest\n      port: {port}\n      namespace: n\n"


def outcome(reports: list[FileReport]) -> list[tuple[Path, list[str], bool]]:
    return [(r.path, [str(d) for d in r.diagnostics], r.ok) for r in reports]


def entries(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


def cached(root: Path) -> Settings:
    return Settings(load_cache=str(root))


def test_warm_loads_report_what_cold_and_uncached_loads_report_over_the_corpus(tmp_path: Path) -> None:
    uncached = load_files(CORPUS, Settings(load_cache="off"), ENVIRON)
    cold = load_files(CORPUS, cached(tmp_path), ENVIRON)
    stored = entries(tmp_path)
    warm = load_files(CORPUS, cached(tmp_path), ENVIRON)
    assert outcome(cold) == outcome(uncached)
    assert outcome(warm) == outcome(uncached)
    assert entries(tmp_path) == stored  # a warm load writes nothing
    cache = open_load_cache(cached(tmp_path))
    assert cache is not None
    hits = [path for path in CORPUS if cache.fetch(path) is not None]
    assert len(hits) >= len(CORPUS) - 3, "nearly every corpus file parses and is kept"
    for report, before in zip(warm, uncached, strict=True):
        if report.loaded is not None and before.loaded is not None:
            assert report.loaded.capability == before.loaded.capability


def test_a_hit_gives_the_parse_of_the_file(tmp_path: Path) -> None:
    load_files(CAPABILITIES, cached(tmp_path), ENVIRON)
    cache = open_load_cache(cached(tmp_path))
    assert cache is not None
    for path in CAPABILITIES:
        hit, parsed = cache.fetch(path), prepare(read_source(path))
        assert hit is not None
        assert (hit.source.path, hit.source.text, hit.source.data) == (path, parsed.source.text, parsed.source.data)
        assert (hit.dialect, hit.shape, hit.data, hit.origins) == (
            parsed.dialect,
            parsed.shape,
            parsed.data,
            parsed.origins,
        )


def test_an_edited_file_is_a_miss_and_loads_its_new_bytes(tmp_path: Path) -> None:
    path = tmp_path / "files" / "a.yaml"
    path.parent.mkdir()
    path.write_text(PORTED.format(port=8080))
    settings = cached(tmp_path / "cache")
    first = load_files([path], settings)[0]
    path.write_text(PORTED.format(port=8181))  # same size, same second: only the bytes differ
    second = load_files([path], settings)[0]
    assert first.loaded and second.loaded
    assert [a.port for a in first.loaded.capability.adapters] == [8080]
    assert [a.port for a in second.loaded.capability.adapters] == [8181]
    assert len(entries(tmp_path / "cache")) == 2


def test_another_runtime_reads_none_of_the_entries_and_both_keep_theirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """D172a: two runtimes sharing one folder (two installations, an upgrade and its rollback) read
    none of each other's entries and evict none of them: back on the first, every file is a hit."""
    settings = cached(tmp_path)
    load_files(CAPABILITIES, settings, ENVIRON)
    (old,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    first = load_cache.runtime_digest
    monkeypatch.setattr(load_cache, "runtime_digest", lambda: "0" * len(old.name))
    cache = open_load_cache(settings)
    assert cache is not None and cache.folder.name == "0" * len(old.name)
    assert all(cache.fetch(path) is None for path in CAPABILITIES)
    assert outcome(load_files(CAPABILITIES, settings, ENVIRON)) == outcome(
        load_files(CAPABILITIES, Settings(load_cache="off"), ENVIRON)
    )
    monkeypatch.setattr(load_cache, "runtime_digest", first)
    back = open_load_cache(settings)
    assert back is not None and back.folder == old
    assert all(back.fetch(path) is not None for path in CAPABILITIES), "the other runtime evicted none"


def test_only_the_other_runtimes_opened_last_keep_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """D172a: a new runtime's folder removes the other runtimes' folders but the
    ``OTHER_RUNTIMES_KEPT`` opened last (a warm opening counts, though it writes nothing); what
    ``runtime_digest`` could not have named stays."""
    settings = cached(tmp_path)
    width = len(load_cache.runtime_digest())
    names = [f"{k:x}" * width for k in range(1, 5)]
    for age, name in enumerate(names):  # the first opened last, then the others, older and older
        (tmp_path / name).mkdir(mode=0o700)
        os.utime(tmp_path / name, (1_000_000 - age, 1_000_000 - age))
    (tmp_path / "notes").mkdir()
    monkeypatch.setattr(load_cache, "runtime_digest", lambda: names[3])
    assert open_load_cache(settings) is not None  # the oldest, opened: now the newest
    monkeypatch.setattr(load_cache, "runtime_digest", lambda: "f" * width)
    assert open_load_cache(settings) is not None
    assert load_cache.OTHER_RUNTIMES_KEPT == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["f" * width, names[3], names[0], "notes"])


def _damaged(entry: bytes) -> list[bytes]:
    head = len(MAGIC) + load_cache.CHECKSUM_BYTES
    flipped = bytearray(entry)
    flipped[head + 40] ^= 0x20
    return [b"", entry[:10], entry[: len(entry) // 2], bytes(flipped), b"NOT-AN-ENTRY" + entry[12:], b"\x00" * 64]


def test_a_damaged_entry_is_a_miss_and_is_written_again(tmp_path: Path) -> None:
    settings = cached(tmp_path)
    expected = outcome(load_files(CAPABILITIES, settings, ENVIRON))
    (entry, *_) = entries(tmp_path)
    good = entry.read_bytes()
    for damaged in _damaged(good):
        entry.write_bytes(damaged)
        assert outcome(load_files(CAPABILITIES, settings, ENVIRON)) == expected
        assert entry.read_bytes() == good


def test_an_entry_of_another_layout_is_a_miss(tmp_path: Path) -> None:
    import hashlib
    import marshal

    settings = cached(tmp_path)
    expected = outcome(load_files(CAPABILITIES, settings, ENVIRON))
    for entry in entries(tmp_path):
        payload = marshal.dumps((FORMAT + 1, "naftiko", "1.0.0-alpha2", (), {}, None, {}))
        checksum = hashlib.blake2b(payload, digest_size=load_cache.CHECKSUM_BYTES).digest()
        entry.write_bytes(MAGIC + checksum + payload)
    cache = open_load_cache(settings)
    assert cache is not None and all(cache.fetch(path) is None for path in CAPABILITIES)
    assert outcome(load_files(CAPABILITIES, settings, ENVIRON)) == expected


def test_a_folder_that_cannot_be_made_costs_one_log_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    load_cache._warned.clear()
    with caplog.at_level(logging.WARNING, logger="naftiko"):
        for _ in range(2):
            reports = load_files(CAPABILITIES, cached(blocked), ENVIRON)
            assert all(r.ok for r in reports)
    assert [r.getMessage() for r in caplog.records] == [
        f"load cache {blocked}: cannot create it (File exists); loading without it"
    ]


@pytest.mark.parametrize("unsafe", ["mode", "owner"])
def test_a_folder_others_could_write_is_not_read(tmp_path: Path, unsafe: str, caplog: pytest.LogCaptureFixture) -> None:
    settings = cached(tmp_path / "cache")
    load_files(CAPABILITIES, settings, ENVIRON)
    if unsafe == "mode":
        (tmp_path / "cache").chmod(0o777)
    else:
        if os.geteuid() != 0:
            pytest.skip("only root can give a folder away")
        os.chown(tmp_path / "cache", 4242, 4242)
    load_cache._warned.clear()
    with caplog.at_level(logging.WARNING, logger="naftiko"):
        assert open_load_cache(settings) is None
        assert all(r.ok for r in load_files(CAPABILITIES, settings, ENVIRON))
    assert len(caplog.records) == 1
    assert "loading without it" in caplog.records[0].getMessage()


def test_off_reads_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert open_load_cache(Settings(load_cache="off")) is None
    load_files(CAPABILITIES, Settings(load_cache="off"), ENVIRON)
    assert not any(tmp_path.iterdir())
    load_files(CAPABILITIES, Settings(), ENVIRON)
    assert len(entries(tmp_path / "naftiko-runtime" / "load")) == len(CAPABILITIES), "the default folder"


def test_a_file_marshal_cannot_keep_loads_the_same_every_time(tmp_path: Path) -> None:
    path = tmp_path / "dated.yaml"
    path.write_text(PORTED.format(port=8080) + "info:\n  created: 2026-05-19\n")
    settings = cached(tmp_path / "cache")
    runs = [outcome(load_files([path], settings)) for _ in range(2)]
    assert runs[0] == runs[1] == outcome(load_files([path], Settings(load_cache="off")))
    assert entries(tmp_path / "cache") == [], "a date is not plain data for marshal: never kept"


def test_a_load_that_wrote_drops_the_entries_it_did_not_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load_cache, "SLACK", 0)
    files = [tmp_path / f"f{k}.yaml" for k in range(3)]
    settings = cached(tmp_path / "cache")
    for port in (8080, 8181, 8282):
        for k, path in enumerate(files):
            path.write_text(PORTED.format(port=port + k))
        load_files(files, settings)
    kept = {path.name for path in entries(tmp_path / "cache")}
    assert kept == {content_key(path.read_bytes()) for path in files}
    load_files(files, settings)  # all hits: nothing written, nothing removed
    assert {path.name for path in entries(tmp_path / "cache")} == kept


plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=30,
)
paths = st.lists(st.one_of(st.text(max_size=6), st.integers(0, 9)), max_size=4).map(tuple)


@given(
    data=plain,
    text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=40).filter(lambda t: not t.startswith("\ufeff")),
    findings=st.lists(st.tuples(st.sampled_from(["error", "warning"]), paths, st.text(max_size=20)), max_size=3),
    origins=st.dictionaries(paths, paths, max_size=3),
    translated=st.booleans(),
)
def test_an_entry_gives_back_what_was_stored(
    tmp_path_factory: pytest.TempPathFactory,
    data: object,
    text: str,
    findings: list[tuple[str, tuple[str | int, ...], str]],
    origins: dict[tuple[str | int, ...], tuple[str | int, ...]],
    translated: bool,
) -> None:
    folder = tmp_path_factory.mktemp("entries")
    path = folder / "file.yaml"
    raw = text.encode("utf-8")
    path.write_bytes(raw)
    shape = [Finding.error(at, m) if s == "error" else Finding.warning(at, m) for s, at, m in findings]
    native = {"wrapped": data} if translated else data
    stored = Prepared(SourceDocument(path, text, data), detect(data), shape, native, origins)
    cache = LoadCache(folder)
    cache.store(raw, stored)
    hit = cache.fetch(path)
    assert hit is not None
    assert (hit.source.path, hit.source.text, hit.source.data) == (path, text, data)
    assert (hit.dialect, hit.shape, hit.data, hit.origins) == (stored.dialect, shape, native, origins)
    assert (hit.data is hit.source.data) == (not translated)


class _PluginStepKind:
    """Stands for a plugin's type: defined outside the runtime's package."""


def test_a_plugins_type_changes_the_runtime_digest_a_built_in_one_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    from naftiko_runtime.adapters.registry import BUILTIN, KINDS, Deferred
    from naftiko_runtime.core.stepkinds import STEP_KINDS
    from naftiko_runtime.serving.runtime_digest import runtime_digest

    before = runtime_digest()

    def unused() -> list[str]:
        return [name for name, kind in zip(KINDS, KINDS.registered(), strict=True) if isinstance(kind, Deferred)]

    if not unused():  # an earlier test of this process used every kind: one is made unused again
        monkeypatch.setattr(
            KINDS, "_kinds", {**dict(zip(KINDS, KINDS.registered(), strict=True)), "skill": BUILTIN["skill"]}
        )
    still_deferred = unused()
    assert runtime_digest() == before
    assert unused() == still_deferred, "the digest imported an adapter kind no file used"
    KINDS[still_deferred[0]]  # a kind imported when a file first uses it
    assert runtime_digest() == before
    monkeypatch.setitem(STEP_KINDS, "plugin-step", _PluginStepKind())
    assert runtime_digest() != before


def test_a_held_load_writes_its_entries_only_when_told_and_then_the_same_bytes(tmp_path: Path) -> None:
    """D181: a serve's load holds its entries (``HELD``) until its ports serve; written then, they
    are byte for byte what a load writes at once, and a second write finds nothing left."""
    at_once = tmp_path / "at-once"
    load_files(CAPABILITIES, cached(at_once), ENVIRON)
    later = tmp_path / "later"
    with load_cache.HELD.held():
        held = load_files(CAPABILITIES, cached(later), ENVIRON)
    assert entries(later) == [] and load_cache.HELD.pending
    load_cache.HELD.write()
    assert not load_cache.HELD.pending
    assert [p.read_bytes() for p in entries(later)] == [p.read_bytes() for p in entries(at_once)]
    assert [p.name for p in entries(later)] == [p.name for p in entries(at_once)]
    assert outcome(load_files(CAPABILITIES, cached(later), ENVIRON)) == outcome(held)
