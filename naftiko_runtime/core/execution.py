"""The one execution core: checked inputs in, the plan's steps run upstream, a mapped reply out.

Both adapters call ``Executor.execute`` with inputs already checked against the plan (the REST
adapter from an HTTP request, the MCP adapter from tool arguments); nothing about calling an
upstream exists anywhere else. Runtime errors are raised as ``Problem``; an upstream's own error
is a ``Reply`` with ``ok = False`` and the upstream body untouched (D51) - except that a secret
the gateway holds is redacted from every upstream body and passed-back header (D56: an upstream
that echoes the request's ``Authorization`` must not hand the key to the caller).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .codecs import DecodeError
from .plans import OperationPlan, UpstreamCall
from .problems import Problem, encode_json
from .redaction import redact_bytes
from .requests import build_outgoing
from .upstream import UpstreamClients, UpstreamResponse

PASSED_BACK_HEADERS = re.compile(
    r"^(location|retry-after|etag|last-modified|cache-control|link|x-ratelimit-[a-z-]+|ratelimit(-[a-z-]+)?"
    r"|x-rate-limit-[a-z-]+)$"
)
"""D52: response headers worth passing back; Content-Type is handled on its own."""


@functools.lru_cache(maxsize=1024)
def passed_back(name: str) -> bool:
    """Upstreams send the same few header names on every reply: decide each name once."""
    return PASSED_BACK_HEADERS.match(name.lower()) is not None


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str | None
    headers: tuple[tuple[str, str], ...]
    value: Any
    """The mapped result for a 2xx reply (``None`` for an empty body); unused for errors."""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def _redacted(call: UpstreamCall, response: UpstreamResponse) -> tuple[bytes, tuple[tuple[str, str], ...]]:
    """The reply's body and passed-back headers, with the gateway's secrets replaced (D56)."""
    headers = tuple((k.lower(), v) for k, v in response.items if passed_back(k))
    forms = call.secret_forms
    if not forms:
        return response.body, headers
    return (
        redact_bytes(response.body, forms),
        tuple((k, redact_bytes(v.encode(), forms).decode()) for k, v in headers),
    )


class Executor:
    def __init__(self, clients: UpstreamClients):
        self.clients = clients

    async def execute(self, plan: OperationPlan, inputs: Mapping[str, Any]) -> Reply:
        """Run the steps in order; the first that fails is the answer (D80), else the last one's
        answer, mapped by the plan's outputs (D45)."""
        lookup = plan.lookup(inputs)
        for step in plan.steps:
            call = step.call
            response = await self.clients.send(call, build_outgoing(call, inputs, lookup))
            body, headers = _redacted(call, response)
            content_type = response.headers.get("content-type")
            if not 200 <= response.status < 300:
                return Reply(response.status, body, content_type, headers, None)
        if not body:
            return Reply(response.status, body, content_type, headers, None)
        try:
            document = call.decoder.decode(body)
        except DecodeError as exc:
            raise Problem(
                502,
                f"upstream {call.label} answered {response.status} with a body that is not "
                f"{call.decoder.name} ({content_type or 'no Content-Type'}): {exc}",
            ) from exc
        if plan.mapper.passthrough:
            # D46: the upstream bytes go back as they came; decoding above only proved them well-formed.
            return Reply(response.status, body, content_type or "application/json", headers, document)
        value = plan.mapper.apply(document, lookup)
        body = encode_json(value, 502, f"the mapped answer of {call.label}")
        return Reply(response.status, body, "application/json", headers, value)
