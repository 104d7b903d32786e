"""D185: a served namespace's policies are made when it is opened (at start), its pooled client
at its first call: 1,000 files' clients were ~3% of a warm start's CPU."""

from __future__ import annotations

from pathlib import Path

from naftiko_runtime.core.codecs import DECODERS
from naftiko_runtime.core.consumed import path_parts
from naftiko_runtime.core.credentials import NONE
from naftiko_runtime.core.plans import UpstreamCall
from naftiko_runtime.core.requests import Outgoing
from naftiko_runtime.core.upstream import UpstreamClients
from naftiko_runtime.settings import BreakerPolicy, Settings, UpstreamPolicy


async def test_a_namespace_is_guarded_when_opened_and_connected_at_its_first_call(upstream):
    """D185: opening 1,000 namespaces makes their policies, not their clients; a breaker is there
    (and reported) before any call, and the first call connects and answers."""
    settings = Settings(namespaces={"guarded": UpstreamPolicy(breaker=BreakerPolicy(failures=3))})
    clients = UpstreamClients(settings)
    clients.open({"guarded", "plain"})
    assert set(clients.breakers()) == {"guarded"}
    call = UpstreamCall(
        namespace="plain",
        operation="list",
        method="GET",
        base_uri=upstream.url,
        path_parts=path_parts("/things"),
        arguments=(),
        body=None,
        decoder=DECODERS["json"].decoder(None, Path(".")),
        credentials=NONE,
        secret_forms=(),
    )
    try:
        for _ in range(2):
            answer = await clients.send(call, Outgoing("GET", f"{upstream.url}/things", {}, None))
            assert answer.status == 200
    finally:
        await clients.aclose()
    assert [r.path for r in upstream.requests] == ["/things", "/things"]
