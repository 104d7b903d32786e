from __future__ import annotations

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
