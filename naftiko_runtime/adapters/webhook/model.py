"""The ``x-naftiko-webhook`` entry as modelled: each webhook's path, signature and operation.

```yaml
- type: x-naftiko-webhook
  namespace: shop-events
  port: 9400
  webhooks:
    - name: order-paid
      path: /hooks/orders
      signature: {style: standard-webhooks, secret: "{{ORDERS_WEBHOOK_SECRET}}", tolerance: 300}
      inputParameters: [{name: order_id, type: string, required: true}]
      call: shop.mark-paid
      with: {id: event.order_id}
```

A webhook is an exposed operation like a tool (``call``, ``steps`` or a mock; inputs without
``in``, filled from the event body's top-level fields, or by a ``value`` JSONPath over the body).
"""

from __future__ import annotations

from typing import Any

from ...records import dataclass
from ...spec.builder import ModelBuilder
from ...spec.composition import keyed_items
from ...spec.diagnostics import DocPath
from ...spec.model import Exposed, ExposedAdapter
from .signatures import STYLES

DEFAULT_TOLERANCE = 300
"""Seconds a signature's timestamp may be from now: the five minutes Standard Webhooks and Stripe
recommend."""
SIGNATURE_FIELDS = ("style", "secret", "tolerance")


@dataclass(frozen=True)
class Signature:
    style: str
    secret: str
    """As written: a bind variable reference (``{{NAME}}``), rendered at load (D13)."""
    tolerance: float
    at: DocPath


@dataclass(frozen=True)
class Webhook:
    path: str
    signature: Signature
    exposed: Exposed


@dataclass(frozen=True)
class WebhookAdapter(ExposedAdapter):
    webhooks: tuple[Webhook, ...] = ()


def parse_signature(builder: ModelBuilder, node: Any, at: DocPath) -> Signature | None:
    node = builder.mapping(node, at, "'signature'")
    for key in node:
        if key not in SIGNATURE_FIELDS:
            allowed = ", ".join(SIGNATURE_FIELDS)
            builder.error(at + (str(key),), f"unknown key '{key}' in 'signature'; allowed: {allowed}")
    style = builder.text(node, "style", at, required=True)
    secret = builder.text(node, "secret", at, required=True)
    if style is not None and style not in STYLES:
        builder.error(at + ("style",), f"signature style '{style}' is not one of {', '.join(STYLES)}")
        return None
    tolerance = node.get("tolerance", DEFAULT_TOLERANCE)
    if not isinstance(tolerance, int | float) or isinstance(tolerance, bool) or tolerance <= 0:
        builder.error(at + ("tolerance",), f"'tolerance' must be a positive number of seconds, got {tolerance!r}")
        return None
    if style is None or secret is None:
        return None
    return Signature(style, secret, float(tolerance), at)


def parse_webhook(
    builder: ModelBuilder, node: Any, at: DocPath, namespace: str, kind: str, roots: tuple[str, ...]
) -> Webhook | None:
    node = builder.mapping(node, at, "a webhook")
    name = builder.text(node, "name", at, required=True) or ""
    path = builder.text(node, "path", at, required=True) or ""
    if path and (not path.startswith("/") or "{" in path):
        builder.error(at + ("path",), f"webhook path '{path}' must start with '/' and hold no placeholder")
    if "signature" not in node:
        builder.error(at, "missing required field 'signature': an unsigned webhook would run for anyone")
    signature = parse_signature(builder, node.get("signature"), at + ("signature",))
    fields = {k: v for k, v in node.items() if k not in ("path", "signature")}
    exposed = builder.exposed(
        fields, at, namespace=namespace, kind=kind, key=name, name=name, reference_roots=roots, tool=True, method="POST"
    )
    if exposed is None or signature is None or not path:
        return None
    return Webhook(path, signature, exposed)


def parse_webhooks(
    builder: ModelBuilder, node: dict[str, Any], at: DocPath, namespace: str, kind: str, roots: tuple[str, ...]
) -> tuple[Webhook, ...]:
    items = keyed_items(builder, node, "webhooks", at)
    if not items:
        builder.error(at + ("webhooks",) if "webhooks" in node else at, "a webhook adapter needs at least one webhook")
    parsed = (parse_webhook(builder, item, w_at, namespace, kind, roots) for item, w_at in items)
    return tuple(webhook for webhook in parsed if webhook is not None)
