"""Putting exposed authentication on a port: each kind's handler behind its adapters' gate, and the
RFC 9728 protected-resource metadata of ``oauth2`` adapters, which must be readable without a token.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import orjson
from starlette.types import Receive, Scope, Send

from ..asgi import send_response
from ..base import Mounted, PortPart
from .guard import AuthGuard
from .oauth2 import METADATA_PATH, OAuth2Gate


def guarded(part: PortPart, mounted: Sequence[Mounted]) -> PortPart:
    """``part`` behind the gate its adapters share (the listeners refuse adapters that differ)."""
    gate = next((m.gate for m in mounted if m.gate is not None), None)
    if gate is None:
        return part
    return dataclasses.replace(part, app=AuthGuard(part.app, gate))


def protected_resource_parts(mounted: Sequence[Mounted]) -> list[PortPart]:
    for each in mounted:
        if isinstance(each.gate, OAuth2Gate):
            return [PortPart(ProtectedResourceMetadata(each.gate), prefixes=(METADATA_PATH,))]
    return []


class ProtectedResourceMetadata:
    """``GET /.well-known/oauth-protected-resource`` (and ``.../mcp...``: the path-suffixed form)."""

    def __init__(self, gate: OAuth2Gate):
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await send_response(send, 405, b"", None, (("Allow", "GET, HEAD"),))
            return
        body = orjson.dumps(self.gate.metadata())
        await send_response(send, 200, body, "application/json", head=scope["method"] == "HEAD")
