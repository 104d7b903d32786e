"""The ``x-naftiko-webhook`` adapter kind: inbound events, signature-checked, each running an
operation through the shared executor. Not in the official schema: the builder warns about the
type wherever it is used, so ``--strict`` refuses the file (D107)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ...core.credentials import render_from_binds
from ...spec.builder import ModelBuilder
from ...spec.diagnostics import DocPath, Finding
from ...spec.model import ExposedAdapter
from ...spec.shape_kinds import ShapeFragment
from ..base import Claim, MountContext, Mounted, PortPart, RouteRow
from .model import WebhookAdapter, parse_webhooks
from .shape import webhook_shape
from .signatures import signing_key


def _webhooks(mounted: Mounted) -> WebhookAdapter:
    adapter = mounted.adapter
    assert isinstance(adapter, WebhookAdapter)
    return adapter


class WebhookKind:
    type: str = "x-naftiko-webhook"
    features: frozenset[str] = frozenset({"x-naftiko-webhook"})
    reference_roots: tuple[str, ...] = ("event",)
    shape: ShapeFragment = staticmethod(webhook_shape)
    port_alone: bool = False

    def parse(self, builder: ModelBuilder, node: dict[str, Any], at: DocPath) -> ExposedAdapter | None:
        namespace = builder.text(node, "namespace", at, required=True) or ""
        webhooks = parse_webhooks(builder, node, at, namespace, self.type, self.reference_roots)
        return WebhookAdapter(
            self.type,
            namespace,
            builder.port(node, at),
            builder.text(node, "address", at),
            builder.text(node, "description", at),
            tuple(webhook.exposed for webhook in webhooks),
            at,
            webhooks=webhooks,
        )

    def check(self, mounted: Mounted) -> Iterable[Finding]:
        """Each signing secret renders from the file's binds to a usable key: a webhook never
        serves with nothing to check signatures against, nor with the literal ``{{NAME}}``."""
        for webhook in _webhooks(mounted).webhooks:
            signature = webhook.signature
            secret = render_from_binds(signature.secret, mounted.binds)
            at = signature.at + ("secret",)
            if not secret:
                yield Finding.error(at, f"the signing secret ({signature.secret}) is unset or empty (D13)")
                continue
            try:
                signing_key(signature.style, secret)
            except ValueError as exc:
                yield Finding.error(at, str(exc))

    def claims(self, adapter: ExposedAdapter, port: int) -> Iterable[Claim]:
        """Each webhook path once per port, owned whole: no REST route may sit beneath it."""
        if not isinstance(adapter, WebhookAdapter):
            return
        for webhook in adapter.webhooks:
            yield Claim(
                ("webhook", webhook.path),
                webhook.exposed.at,
                f"webhook POST {webhook.path} on port {port}",
                prefix=tuple(webhook.path.strip("/").split("/")),
            )

    def mount(self, mounted: Sequence[Mounted], context: MountContext) -> PortPart:
        from .app import WebhookApp, served_webhooks

        hooks = [hook for each in mounted for hook in served_webhooks(each)]
        return PortPart(WebhookApp(hooks, context), prefixes=tuple(hook.path for hook in hooks))

    def describe(self, mounted: Mounted) -> Iterable[RouteRow]:
        for webhook in _webhooks(mounted).webhooks:
            entry = f"POST {webhook.path} ({webhook.signature.style})"
            yield RouteRow(f"webhook {mounted.adapter.namespace}", entry, mounted.plan(webhook.exposed))
