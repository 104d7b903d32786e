"""The load cache (D172) as a user meets it: a server started warm answers as it did cold (a real
upstream, real clients), `naftiko validate` prepares the cache as `compileall` prepares bytecode,
and a load whose every file is a hit starts no worker pool."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from support import API_KEY, CAPABILITIES, naftiko, served

from naftiko_runtime.serving import loading
from naftiko_runtime.serving.load_cache import HELD, MAGIC
from naftiko_runtime.serving.loading import PARALLEL_FROM, load_files
from naftiko_runtime.settings import Settings

MODELSYNC = next(path for path in CAPABILITIES if "modelsync" in path.stem)
CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list-syncs", "arguments": {}}}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


def entries(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


def answers(tmp_path: Path, upstream_url: str, *extra: str) -> tuple[object, object, str]:
    """The REST operation's and the MCP tool call's answers, and the server's diagnostics."""
    with served(tmp_path, upstream_url, *extra) as gateway:
        rest = httpx.get(gateway.url(8080) + "/v1/api/syncs", timeout=10)
        mcp = httpx.post(gateway.url(9090) + f"/mcp/{MODELSYNC.stem}-mcp", json=CALL, headers=MCP_HEADERS, timeout=10)
        assert rest.status_code == mcp.status_code == 200, rest.text + mcp.text
        warnings = [line for line in gateway.stderr.splitlines() if ": warning: " in line]
        return rest.json(), json.loads(mcp.text), "\n".join(warnings)


def test_a_warm_start_serves_and_warns_as_the_cold_start_did(tmp_path: Path, upstream) -> None:
    folder = tmp_path / "load-cache"
    cold = answers(tmp_path, upstream.url, "--load-cache", str(folder))
    stored = entries(folder)
    assert len(stored) == len(CAPABILITIES)
    warm = answers(tmp_path, upstream.url, "--load-cache", str(folder))
    uncached = answers(tmp_path, upstream.url, "--no-load-cache")
    assert warm == cold == uncached
    assert "warning" in cold[2], "the unset API key's warnings, positioned, from both starts"
    assert entries(folder) == stored


def test_validate_prepares_the_cache_an_image_build_ships(tmp_path: Path) -> None:
    files = list(map(str, CAPABILITIES))
    folder = tmp_path / "image-cache"
    first = naftiko("validate", *files, env={"NAFTIKO_LOAD_CACHE": str(folder)})
    assert first.returncode == 0, first.stderr
    assert len(entries(folder)) == len(CAPABILITIES)
    again = naftiko("validate", *files, "--load-cache", str(folder))
    assert again.stdout == first.stdout
    config = tmp_path / "naftiko.toml"
    config.write_text(f'load_cache = "{tmp_path / "from-config"}"\n')
    naftiko("validate", *files, env={"NAFTIKO_CONFIG": str(config), "POLYTOMIC_API_KEY": API_KEY})
    assert len(entries(tmp_path / "from-config")) == len(CAPABILITIES)
    home = tmp_path / "home"
    off = naftiko("validate", *files, "--no-load-cache", env={"XDG_CACHE_HOME": str(home)})
    assert off.stdout == first.stdout and not home.exists()
    clash = naftiko("validate", *files, "--no-load-cache", "--load-cache", str(folder))
    assert clash.returncode == 2 and "not allowed with argument" in clash.stderr


def parallel_copies(folder: Path) -> list[Path]:
    """Enough copies of the model-sync file, each on its own port, for a load to use its pool."""
    text = MODELSYNC.read_text()
    paths = []
    for k in range(PARALLEL_FROM + 4):
        path = folder / f"copy{k}.yaml"
        path.write_text(text.replace("port: 8080", f"port: {10000 + k}"))
        paths.append(path)
    return paths


def test_a_load_whose_every_file_is_a_hit_starts_no_pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = parallel_copies(tmp_path)
    settings = Settings(load_cache=str(tmp_path / "cache"))
    cold = load_files(paths, settings, {"POLYTOMIC_API_KEY": API_KEY})
    assert len(entries(tmp_path / "cache")) == len(paths)

    def parsed(path: Path, cache: object = None) -> None:
        raise AssertionError(f"{path} parsed although its entry is there")

    monkeypatch.setattr(loading, "_parse_and_check", parsed)
    monkeypatch.setattr(loading.multiprocessing, "get_context", lambda *_: pytest.fail("a pool was started"))
    warm = load_files(paths, settings, {"POLYTOMIC_API_KEY": API_KEY})
    assert [r.diagnostics for r in warm] == [r.diagnostics for r in cold]
    assert all(r.ok for r in warm)
    assert multiprocessing.active_children() == []


def test_a_cold_serve_writes_its_entries_while_it_serves(tmp_path: Path, upstream) -> None:
    """D181: the entries wait until the ports serve, then a serve left running writes them all
    itself (no stop needed), and the warm start that reads them serves the same answers."""
    folder = tmp_path / "load-cache"
    with served(tmp_path, upstream.url, "--load-cache", str(folder)) as gateway:
        deadline = time.monotonic() + 30
        while len(entries(folder)) < len(CAPABILITIES) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(entries(folder)) == len(CAPABILITIES)
        assert gateway.process.poll() is None, "written by the running serve, not at its end"
    assert answers(tmp_path, upstream.url, "--load-cache", str(folder)) == answers(
        tmp_path, upstream.url, "--no-load-cache"
    )


def test_a_serve_stopped_as_soon_as_it_answers_leaves_its_entries(tmp_path: Path, upstream) -> None:
    """D181: a stop before the serve wrote its held entries writes them as it ends."""
    folder = tmp_path / "load-cache"
    with served(tmp_path, upstream.url, "--load-cache", str(folder)) as gateway:
        gateway.process.send_signal(signal.SIGTERM)
        assert gateway.process.wait(40) == 0
    assert len(entries(folder)) == len(CAPABILITIES)
    assert all(entry.read_bytes().startswith(MAGIC) for entry in entries(folder))


def test_forked_load_workers_write_their_entries_even_in_a_held_load(tmp_path: Path) -> None:
    """D181: a load worker's ``LoadCache`` holds nothing (what it held would die with it): a serve's
    load of many files finds every entry written by its workers."""
    paths = parallel_copies(tmp_path)
    with HELD.held():
        load_files(paths, Settings(load_cache=str(tmp_path / "cache")), {"POLYTOMIC_API_KEY": API_KEY})
    try:
        assert len(entries(tmp_path / "cache")) == len(paths)
        assert not HELD.pending
    finally:
        HELD.write()


def test_a_stdio_serve_writes_its_entries_before_it_answers(tmp_path: Path, upstream) -> None:
    """D181: over stdio there is no port to wait for, and a client may end its server any way it
    likes: the entries are on disk once the server answers its first message, while it still runs."""
    folder = tmp_path / "load-cache"
    command = [sys.executable, "-m", "naftiko_runtime", "serve", "--stdio", "--load-cache", str(folder)]
    process = subprocess.Popen(
        [*command, *map(str, CAPABILITIES)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if not k.startswith("NAFTIKO_")},
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        process.stdin.write(json.dumps(ping).encode() + b"\n")
        process.stdin.flush()
        assert json.loads(process.stdout.readline())["id"] == 1
        assert len(entries(folder)) == len(CAPABILITIES)
    finally:
        process.kill()
        process.wait()
