from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from edge_support import RawUpstream


@pytest.fixture(scope="module")
def raw_upstream():
    """One raw upstream per module; each test starts with an empty record and the default answer."""
    with RawUpstream() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_raw_upstream(request):
    if "raw_upstream" in request.fixturenames:
        request.getfixturevalue("raw_upstream").reset()
