"""Issue 20, item 1: the README is a short first hour, the rest is the MkDocs site under ``docs/``.

- ``mkdocs build --strict`` passes, and fails on what would rot the site unseen: a broken link or
  anchor, a page left out of the nav, a nav entry without its page;
- every link of the README reaches a file, and a docs link a built page and anchor;
- the README's offline first run works as written: its ``serve`` command, its curl call (with an
  HTTP client) and its MCP snippet give the answers the README shows, and so does its ``--stdio``
  command for desktop clients;
- the README's test command is the one ``.ci/run`` runs.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import jsonschema
import pytest
from mcp import Client, StdioServerParameters
from ruamel.yaml import YAML
from support import ROOT, SHARED, free_port_offset

from naftiko_runtime import Settings, load

README = ROOT / "README.md"
DEMO = ROOT / "examples" / "shipyard.yml"
BETA4_SCHEMA = SHARED / "spec" / "ikanos-1.0.0-beta4" / "schemas" / "ikanos-schema.json"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\[[^\]]+\]\(([^)\s]+)\)")
REST_PORT, MCP_PORT = 8080, 9090


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    """Never ``-q``: mkdocs 1.6 then stops counting warnings, and ``--strict`` passes anything."""
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config), "--site-dir", str(site)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site as ``mkdocs.yml`` builds it, into a temporary folder (never the tree's ``site/``)."""
    built = tmp_path_factory.mktemp("site")
    result = mkdocs_build(ROOT / "mkdocs.yml", built)
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    return built


def test_every_docs_page_is_built(site):
    pages = {p.relative_to(ROOT / "docs").with_suffix("") for p in (ROOT / "docs").rglob("*.md")}
    assert {"index", "getting-started", "architecture", "decisions"} <= {str(p) for p in pages}
    for page in pages:
        html = site / "index.html" if str(page) == "index" else site / page / "index.html"
        assert html.is_file(), f"docs/{page}.md was not built"


@pytest.mark.parametrize(
    ("breakage", "warning"),
    [
        (lambda docs: (docs / "orphan.md").write_text("# Orphan\n"), 'not included in the "nav"'),
        (lambda docs: append(docs / "index.md", "[gone](no-such-page.md)"), "no-such-page.md"),
        (lambda docs: append(docs / "index.md", "[gone](serving.md#no-such-anchor)"), "no-such-anchor"),
        (lambda docs: (docs / "decisions.md").unlink(), "decisions.md"),
    ],
    ids=["orphan page", "broken link", "broken anchor", "nav entry without its page"],
)
def test_strict_build_fails_on_what_would_rot(tmp_path, breakage, warning):
    """The configuration really is strict: each breakage, made in a copy, fails the build."""
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    breakage(tmp_path / "docs")
    result = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    assert warning in result.stderr, result.stderr


def append(page: Path, text: str) -> None:
    page.write_text(page.read_text(encoding="utf-8") + f"\n{text}\n", encoding="utf-8")


def readme_prose() -> str:
    """The README without its fenced code, where a ``[x](y)`` is code, not a link."""
    return FENCE.sub("", README.read_text(encoding="utf-8"))


def test_readme_links_reach_files_pages_and_anchors(site):
    targets = LINK.findall(readme_prose())
    local = [t for t in targets if not urlsplit(t).scheme]
    assert len(local) >= 15, "the README should lead into the docs"
    for target in local:
        path, _, anchor = target.partition("#")
        assert (ROOT / path).exists(), f"README links to {path}, which does not exist"
        if not path.startswith("docs/"):
            continue
        page = Path(path).relative_to("docs").with_suffix("")
        html = site / ("index.html" if str(page) == "index" else f"{page}/index.html")
        assert html.is_file(), f"README links to {path}, which the site does not build"
        if anchor:
            assert f'id="{anchor}"' in html.read_text(encoding="utf-8"), f"no anchor #{anchor} in {path}"


def test_readme_stays_short():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 150


def test_readme_test_command_is_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    test = README.read_text(encoding="utf-8").partition("\n## Test\n")[2]
    for step in ("pip install", "ruff check"):
        (line,) = (line for line in ci if line.startswith(step))
        assert f"    {line}\n" in test, f"README's Test section does not run {line!r} as .ci/run does"


# ------------------------------------------------------------------------------------------------
# The README's first run, as written


def test_demo_is_a_valid_official_beta4_capability():
    """The demo teaches the spec, not this runtime's leniency: no finding even under --strict, and
    valid against the official schema (when ../shared has it)."""
    loaded = load([DEMO], Settings(strict=True), {})
    assert not loaded.rejected and list(loaded.diagnostics) == []
    if BETA4_SCHEMA.is_file():
        validator = jsonschema.Draft202012Validator(json.loads(BETA4_SCHEMA.read_text(encoding="utf-8")))
        assert [e.message for e in validator.iter_errors(YAML(typ="safe").load(DEMO))] == []


def first_run() -> tuple[list[str], str, object, str, str]:
    """From the README: the serve command, the curl URL and the answer shown under it, the MCP
    snippet and the output shown under it."""
    text = README.read_text(encoding="utf-8")
    (serve,) = re.findall(r"^ {4}(naftiko serve --mock .+)$", text, re.MULTILINE)
    blocks = FENCE.findall(text)
    console = next(body for lang, body in blocks if lang == "console")
    curl_line, answer = console.strip().splitlines()
    url = shlex.split(curl_line.removeprefix("$ "))[-1]
    python = next(i for i, (lang, _) in enumerate(blocks) if lang == "python")
    assert blocks[python + 1][0] == "text", "the MCP snippet's output follows it"
    return shlex.split(serve), url, json.loads(answer), blocks[python][1], blocks[python + 1][1]


@pytest.fixture
def readme_gateway(tmp_path) -> Iterator[int]:
    """The README's serve command, word for word, from the repository root, with ``--port-offset``
    added so that it never meets a server the developer has running. ``naftiko`` is the command
    this environment installed. Yields the offset."""
    command, *_ = first_run()
    offset = free_port_offset(REST_PORT, MCP_PORT)
    stderr = tmp_path / "serve.stderr"
    with open(stderr, "wb") as sink:
        process = subprocess.Popen(
            [*installed(command), "--port-offset", str(offset)], cwd=ROOT, stdout=sink, stderr=sink
        )
    try:
        deadline = time.monotonic() + 30
        while not all(answers(port + offset) for port in (REST_PORT, MCP_PORT)):
            assert process.poll() is None, stderr.read_text()
            assert time.monotonic() < deadline, f"the README's serve did not start:\n{stderr.read_text()}"
            time.sleep(0.05)
        yield offset
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, stderr.read_text()


def installed(command: list[str]) -> list[str]:
    """``naftiko ...`` with the ``naftiko`` this environment installed (beside its Python)."""
    assert command[0] == "naftiko"
    return [str(Path(sys.executable).with_name("naftiko")), *command[1:]]


def answers(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
    except httpx.TransportError:
        return False
    return True


def test_readme_first_run_answers_as_shown(readme_gateway):
    offset = readme_gateway
    _, url, shown, snippet, shown_output = first_run()
    assert urlsplit(url).port == REST_PORT and "127.0.0.1:9090/mcp" in snippet
    rest = httpx.get(url.replace(f":{REST_PORT}/", f":{REST_PORT + offset}/"), timeout=10)
    assert rest.status_code == 200, rest.text
    assert rest.json() == shown
    # The snippet as a user runs it, with this environment's Python (where the runtime put `mcp`).
    run = subprocess.run(
        [sys.executable, "-c", snippet.replace(f":{MCP_PORT}/", f":{MCP_PORT + offset}/")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == shown_output


def test_getting_started_shows_the_readme_first_run():
    """The docs' longer first run is the README's, word for word, so the two cannot drift apart."""
    page = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    console = next(body for lang, body in FENCE.findall(README.read_text(encoding="utf-8")) if lang == "console")
    command, *_ = first_run()
    assert f"    {shlex.join(command)}\n" in page
    assert all(f"    {line}\n" in page for line in console.strip().splitlines())


async def test_readme_stdio_command_serves_the_same_tool():
    """Desktop clients launch the README's ``--stdio`` command: the same tool, the same answer."""
    (stdio,) = re.findall(r"`(naftiko serve --stdio [^`]+)`", README.read_text(encoding="utf-8"))
    *_, shown_output = first_run()
    command = installed(shlex.split(stdio))
    async with Client(StdioServerParameters(command=command[0], args=command[1:], cwd=str(ROOT))) as client:
        result = await client.call_tool("get-ship", {"imo": "IMO9321483"})
    assert repr(result.structured_content) == shown_output.splitlines()[-1]
