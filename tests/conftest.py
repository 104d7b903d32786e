from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path

import httpx
import pytest
from hypothesis import settings
from support import API_KEY, CAPABILITIES, NAMESPACES, Gateway, RecordingUpstream, running_gateway

LOAD_CACHE_HOME = tempfile.mkdtemp(prefix="naftiko-tests-cache-")
"""Every load of this test process, and of the servers it starts, keeps its load cache (D172) here,
not in the user's ``~/.cache``: one folder per xdist worker, removed at exit."""
os.environ["XDG_CACHE_HOME"] = LOAD_CACHE_HOME
atexit.register(shutil.rmtree, LOAD_CACHE_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def upstream():
    with RecordingUpstream() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_upstream(request):
    """Every test starts with an empty record and the default echo responder."""
    if "upstream" in request.fixturenames:
        request.getfixturevalue("upstream").reset()


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    """One HTTP client for a file's requests. Each `httpx.get(...)` makes (and drops) a client, and
    making one costs ~45 ms of CPU (its TLS context loads the CA bundle): a property test calling it
    per example spent more CPU on that than on the request (issue 20's suite at 6 minutes, D146).
    It keeps no cookie, as a client per request did not: no answer can change the next request."""
    no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    with httpx.Client(timeout=10, cookies=no_cookies) as client:
        yield client


@pytest.fixture(scope="session")
def polytomic(upstream) -> Gateway:
    """The two Polytomic files served against the recording upstream, with a known API key."""
    environ = {"POLYTOMIC_API_KEY": API_KEY}
    with running_gateway(
        CAPABILITIES, environ, base_uris={ns: upstream.url for ns in NAMESPACES}, read_timeout=2.0, total_timeout=3.0
    ) as gateway:
        yield gateway


settings.register_profile("suite", deadline=None)
settings.load_profile("suite")
"""No per-example deadline: hypothesis's 200 ms default fails a property under a loaded parallel run
(two workers a core), and speed is measured in benchmarks/, never asserted in a test."""

TESTS = Path(__file__).resolve().parent
TIERS = ("unit", "integration")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Issue 20: every test carries its tier's marker, from its folder (tests/unit, tests/integration),
    so `-m unit` selects by tier and no file can forget its marker. A file still directly in tests/
    (new, not yet placed) counts as integration: only tests/unit promises no sockets or processes.

    Files holding a `slow` test are collected first (order within a file kept): under xdist the
    longest work units then start first instead of ending the run alone on one worker."""
    for item in items:
        folder = item.path.relative_to(TESTS).parts[0] if item.path.is_relative_to(TESTS) else ""
        item.add_marker(folder if folder in TIERS else "integration")
    slow_files = {item.path for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.path not in slow_files)


SPREAD = {"tests/integration/test_conformance.py"}
"""Files whose tests are independent work units for xdist (no module fixture to share): their long
tests are split into parts (one per conformance area) that any idle worker takes."""


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: two workers a core. Most integration tests wait on sockets, subprocesses and
    timeouts, so one worker a core left the cores ~40% idle (issue 20's measures)."""
    return 2 * (os.cpu_count() or 1)


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """A file's tests run on one worker, in collection order, so a module fixture starts once;
    the files in SPREAD are the exception. Units are handed out in collection order (slow files
    first, see above), not by their number of tests. An explicit `--dist` other than `load` (the
    default under `-n`) gets xdist's own scheduler."""
    if config.getoption("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FileOrSpreadScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            file = nodeid.split("::", 1)[0]
            return nodeid if file in SPREAD else file

    config.option.loadscopereorder = False
    return FileOrSpreadScheduling(config, log)


WORKER_FIGURES: dict[str, object] = {}
"""The hardening figures (issue 6) the xdist workers handed over (tests/integration/hardening/conftest.py)."""


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    WORKER_FIGURES.update(getattr(node, "workeroutput", {}).get("hardening_figures", {}))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Issue 6 asks for every count and figure: printed at the end of any run that collected them,
    in this process (hardening_support.COUNTS) or in xdist workers (handed over above)."""
    hardening = sys.modules.get("hardening_support")
    figures = {**WORKER_FIGURES, **(hardening.COUNTS if hardening is not None else {})}
    if not figures:
        return
    terminalreporter.section("hardening figures (issue 6)")
    for name, value in figures.items():
        terminalreporter.write_line(f"{name}: {value}")
