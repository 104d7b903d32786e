"""The ASGI layer in front of an adapter kind's handler: admit or refuse, then forget the credential.

A refused request gets an RFC 9457 problem (401 with ``WWW-Authenticate``, or 403) and never reaches
the adapter. An admitted one reaches it without the headers or query parameter that carried the
caller's credential, so no ``with`` mapping can forward it upstream (D90): only the gateway's own
consumed authentication travels.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Receive, Scope, Send

from ...core.problems import Problem
from ..asgi import send_problem
from .gates import Gate


class AuthGuard:
    def __init__(self, app: ASGIApp, gate: Gate):
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = await self.gate.admit(scope)
        if refusal is not None:
            headers = {"WWW-Authenticate": refusal.challenge} if refusal.challenge else None
            problem = Problem(refusal.status, refusal.detail, headers=headers)
            await send_problem(send, problem, scope["path"])
            return
        await self.app(without_credentials(scope, self.gate), receive, send)


def without_credentials(scope: Scope, gate: Gate) -> Scope:
    headers = [(k, v) for k, v in scope["headers"] if k not in gate.credential_headers]
    query = scope.get("query_string", b"")
    if gate.credential_query is not None and query:
        pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
        query = urlencode([(k, v) for k, v in pairs if k != gate.credential_query]).encode("latin-1")
    return {**scope, "headers": headers, "query_string": query}
