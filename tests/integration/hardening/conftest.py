from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hardening_support import COUNTS


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Under pytest-xdist the figures are a worker's: handed to the controller, which prints them
    (tests/conftest.py; it collects no test, so it never imports this folder's modules, issue 20)."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None and COUNTS:
        workeroutput["hardening_figures"] = dict(COUNTS)
