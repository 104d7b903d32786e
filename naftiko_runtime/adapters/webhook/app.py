"""The webhook handler: verify, then run, in that order and nothing before.

| delivery | answer | runs |
|---|---|---|
| bad, missing or stale signature | 401 problem | nothing |
| a Standard Webhooks id already let in (replay) | 200 ``{"status": "duplicate"}`` | nothing |
| not a JSON object, or its fields are not the inputs | 400 problem | nothing |
| the operation fails | 502 problem (the id is forgotten, so the sender's retry runs) | the operation |
| the operation succeeds | 200 ``{"status": "processed", "result": ...}`` | the operation |

A refusal is logged with its reason, never with the secret, the expected signature or the body.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from ...core.credentials import render_from_binds
from ...core.inputs import InputSpec, check_inputs
from ...core.plans import OperationPlan
from ...core.problems import Problem, bad_input, encode_json
from ...records import dataclass
from ..asgi import content_length, read_body, send_problem, send_response
from ..base import MountContext, Mounted
from .model import WebhookAdapter
from .replay import SeenIds
from .signatures import SignatureRefused, signing_key, verify

log = logging.getLogger("naftiko_runtime.webhook")


@dataclass(frozen=True)
class ServedWebhook:
    path: str
    style: str
    key: bytes
    tolerance: float
    plan: OperationPlan
    inputs: tuple[InputSpec, ...]
    seen: SeenIds | None
    """Only Standard Webhooks signs an id; the other styles' replays are bounded by time alone."""


def served_webhooks(mounted: Mounted) -> Iterator[ServedWebhook]:
    """The adapter's webhooks with their keys (the loader has checked every secret renders)."""
    adapter = mounted.adapter
    assert isinstance(adapter, WebhookAdapter)
    for webhook in adapter.webhooks:
        signature = webhook.signature
        secret = render_from_binds(signature.secret, mounted.binds) or ""
        plan = mounted.plan(webhook.exposed)
        seen = SeenIds(2 * signature.tolerance) if signature.style == "standard-webhooks" else None
        inputs = tuple(spec for spec in plan.inputs if not spec.credential)
        key = signing_key(signature.style, secret)
        yield ServedWebhook(webhook.path, signature.style, key, signature.tolerance, plan, inputs, seen)


async def _json(send: Send, status: int, value: Any) -> None:
    await send_response(send, status, orjson.dumps(value), "application/json")


class WebhookApp:
    def __init__(self, webhooks: list[ServedWebhook], context: MountContext):
        self.webhooks = {webhook.path: webhook for webhook in webhooks}
        self.context = context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"].rstrip("/") or "/"
        webhook = self.webhooks.get(path)
        try:
            if webhook is None:
                raise Problem(404, f"no webhook is served at {path}")
            if scope["method"] != "POST":
                raise Problem(405, f"a webhook takes POST, not {scope['method']}", headers={"Allow": "POST"})
            limit = self.context.settings.max_request_body
            body = await read_body(receive, limit, content_length(scope["headers"]))
            await self.deliver(webhook, scope, body, send)
        except Problem as problem:
            await send_problem(send, problem, path)

    async def deliver(self, webhook: ServedWebhook, scope: Scope, body: bytes, send: Send) -> None:
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        now = time.time()
        try:
            event_id = verify(webhook.style, webhook.key, headers, body, now, webhook.tolerance).event_id
        except SignatureRefused as refused:
            log.warning("webhook %s refused: %s", webhook.path, refused)
            raise Problem(401, f"the delivery's signature is refused: {refused}") from None
        if event_id is not None and webhook.seen is not None and not webhook.seen.claim(event_id, now):
            log.info("webhook %s: delivery %s already let in, not run again", webhook.path, event_id)
            await _json(send, 200, {"status": "duplicate"})
            return
        try:
            await self.run(webhook, body, send)
        except Problem as problem:
            if problem.status >= 500 and event_id is not None and webhook.seen is not None:
                webhook.seen.release(event_id)
            raise

    async def run(self, webhook: ServedWebhook, body: bytes, send: Send) -> None:
        try:
            event = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise Problem(400, f"the event body is not JSON: {exc}") from None
        if not isinstance(event, dict):
            raise Problem(400, "the event body must be a JSON object")
        inputs, problems = check_inputs(webhook.inputs, {k: (v, False) for k, v in event.items()}, event)
        if problems:
            raise bad_input(problems)
        reply = await self.context.executor.execute(webhook.plan, inputs)
        if reply.stream is not None:
            await reply.stream.aclose()
        if not reply.ok:
            step = f" at step '{reply.step}'" if reply.step else ""
            raise Problem(502, f"the event's operation failed{step}: the upstream answered HTTP {reply.status}")
        result = orjson.loads(encode_json(reply.value, 502, "the event's result")) if reply.body else None
        await _json(send, 200, {"status": "processed", "result": result})
