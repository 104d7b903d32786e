"""The one execution core: inputs in, one upstream call, a mapped reply out.

Both adapters call ``Executor.execute`` with inputs already checked against the plan (the REST
adapter from an HTTP request, the MCP adapter from tool arguments); nothing about calling an
upstream exists anywhere else. Runtime errors are raised as ``Problem``; an upstream's own error
is a ``Reply`` with ``ok = False`` and the upstream body untouched (D51) - except that a secret
the gateway holds is redacted from every upstream body and passed-back header (D55 wins over D51:
an upstream that echoes the request's ``Authorization`` must not hand the key to the caller).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import orjson

from .plans import CallPlan
from .problems import Problem, encode_json
from .upstream import UpstreamClients, build_request

PASSED_BACK_HEADERS = re.compile(
    r"^(location|retry-after|etag|last-modified|cache-control|link|x-ratelimit-[a-z-]+|ratelimit(-[a-z-]+)?"
    r"|x-rate-limit-[a-z-]+)$")
"""D52: response headers worth passing back; Content-Type is handled on its own."""


@functools.lru_cache(maxsize=1024)
def passed_back(name: str) -> bool:
    """Upstreams send the same few header names on every reply: decide each name once."""
    return PASSED_BACK_HEADERS.match(name.lower()) is not None


REDACTED = b"[redacted]"


def redact(data: bytes, secrets: tuple[bytes, ...]) -> bytes:
    for secret in secrets:
        if secret in data:
            data = data.replace(secret, REDACTED)
    return data


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


class Executor:
    def __init__(self, clients: UpstreamClients):
        self.clients = clients

    async def execute(self, plan: CallPlan, inputs: dict[str, Any]) -> Reply:
        request = build_request(plan, inputs)
        response = await self.clients.send(plan, request)
        headers = tuple((k, v) for k, v in response.headers.multi_items() if passed_back(k))
        content_type = response.headers.get("content-type")
        body = response.body
        secrets = plan.secret_forms
        if secrets:
            body = redact(body, secrets)
            headers = tuple((k, redact(v.encode(), secrets).decode()) for k, v in headers)
        if not 200 <= response.status < 300 or not body:
            return Reply(response.status, body, content_type, headers, None)
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise Problem(502, f"upstream {plan.route.namespace}.{plan.route.operation} answered {response.status} "
                               f"with a body that is not JSON ({content_type or 'no Content-Type'}): {exc}") from exc
        if plan.mapper.passthrough:
            # D46: the upstream bytes go back as they came; decoding above only proved them JSON.
            return Reply(response.status, body, content_type or "application/json", headers, document)
        value = plan.mapper.apply(document, plan.lookup(inputs))
        body = encode_json(value, 502, f"the mapped answer of {plan.route.namespace}.{plan.route.operation}")
        return Reply(response.status, body, "application/json", headers, value)
