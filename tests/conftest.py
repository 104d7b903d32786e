from __future__ import annotations

import sys
from pathlib import Path

import pytest
from support import API_KEY, CAPABILITIES, NAMESPACES, Gateway, RecordingUpstream, running_gateway


@pytest.fixture(scope="session")
def upstream():
    with RecordingUpstream() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_upstream(request):
    """Every test starts with an empty record and the default echo responder."""
    if "upstream" in request.fixturenames:
        request.getfixturevalue("upstream").reset()


@pytest.fixture(scope="session")
def polytomic(upstream) -> Gateway:
    """The two Polytomic files served against the recording upstream, with a known API key."""
    environ = {"POLYTOMIC_API_KEY": API_KEY}
    with running_gateway(
        CAPABILITIES, environ, base_uris={ns: upstream.url for ns in NAMESPACES}, read_timeout=2.0, total_timeout=3.0
    ) as gateway:
        yield gateway


TESTS = Path(__file__).resolve().parent
TIERS = ("unit", "integration")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Issue 20: every test carries its tier's marker, from its folder (tests/unit, tests/integration),
    so `-m unit` selects by tier and no file can forget its marker. A file still directly in tests/
    (new, not yet placed) counts as integration: only tests/unit promises no sockets or processes."""
    for item in items:
        folder = item.path.relative_to(TESTS).parts[0] if item.path.is_relative_to(TESTS) else ""
        item.add_marker(folder if folder in TIERS else "integration")


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
