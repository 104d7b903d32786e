"""The ``rest`` adapter kind: its model, its claims on a port, its handler and its routes listing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ...spec.builder import ModelBuilder
from ...spec.diagnostics import DocPath
from ...spec.model import Exposed, ExposedAdapter, ForwardSpec
from ...spec.shapes import Shape
from ..base import Claim, MountContext, Mounted, PortPart, RouteRow
from .app import RestApp
from .docs import docs_pages
from .endpoints import RestEndpoint
from .forward import ForwardRoute, forward_prefix
from .openapi import openapi_document
from .routing import PathTemplateError, RouteTable, split_template

FORWARD = "*"
"""The method of a forward entry: every method goes through."""


class RestKind:
    type: str = "rest"
    features: frozenset[str] = frozenset({"rest", "forward"})
    reference_roots: tuple[str, ...] = ("rest",)
    shape: Shape | None = None
    """Its ``exposes`` shape is in each dialect's schema (``spec.shape_adapters``, one table for every dialect)."""
    port_alone: bool = False

    def parse(self, builder: ModelBuilder, node: dict[str, Any], at: DocPath) -> ExposedAdapter | None:
        namespace = builder.text(node, "namespace", at, required=True) or ""
        port = builder.port(node, at)
        adapter_inputs = builder.parameters(node, at, consumed=False)
        operations = []
        for resource_name, resource, r_at in builder.entries(node, "resources", at):
            resource = builder.mapping(resource, r_at, "a resource")
            resource_name = builder.entry_name(resource_name, resource, r_at, required=False) or ""
            path = builder.text(resource, "path", r_at, required=True) or "/"
            if "forward" in resource:
                operations.append(self._forward(builder, resource, r_at, namespace, path, resource_name))
            try:
                path_parameters = tuple(name for name in split_template(path)[1] if name)
            except PathTemplateError as exc:
                builder.error(r_at + ("path",), str(exc))
                continue
            inherited = adapter_inputs + builder.parameters(resource, r_at, consumed=False)
            for op_name, op, o_at in builder.entries(resource, "operations", r_at):
                op = builder.mapping(op, o_at, "an operation")
                method = (builder.text(op, "method", o_at) or "GET").upper()
                name = builder.entry_name(op_name, op, o_at, required=False) or resource_name
                exposed = builder.exposed(
                    op,
                    o_at,
                    namespace=namespace,
                    kind=self.type,
                    key=f"{method} {path}",
                    name=name,
                    reference_roots=self.reference_roots,
                    inherited=inherited,
                    method=method,
                    path=path,
                    path_parameters=path_parameters,
                )
                if exposed:
                    operations.append(exposed)
        return ExposedAdapter(
            self.type,
            namespace,
            port,
            builder.text(node, "address", at),
            builder.text(node, "description", at),
            tuple(operations),
            at,
        )

    def _forward(
        self, builder: ModelBuilder, resource: dict[str, Any], at: DocPath, namespace: str, path: str, name: str
    ) -> Exposed:
        """A resource's ``forward`` as an exposed entry whose ``path`` is the forwarded prefix (D82)."""
        f_at = at + ("forward",)
        node = builder.mapping(resource["forward"], f_at, "'forward'")
        target = builder.text(node, "targetNamespace", f_at, required=True) or ""
        trusted = builder.sequence(node.get("trustedHeaders"), f_at + ("trustedHeaders",), "'trustedHeaders'")
        prefix = forward_prefix(path)
        return Exposed(
            namespace=namespace,
            adapter_kind=self.type,
            key=f"FORWARD {prefix}",
            name=name,
            call=None,
            with_={},
            inputs=(),
            outputs=(),
            method=FORWARD,
            path=prefix,
            forward=ForwardSpec(target, tuple(str(h) for h in trusted), f_at),
            at=at,
        )

    def claims(self, adapter: ExposedAdapter, port: int) -> Iterable[Claim]:
        """D32: a method and path shape (placeholder names ignored) once per port; a forwarded
        prefix once per port."""
        for operation in adapter.operations:
            if operation.forward is not None:
                yield Claim(
                    ("forward", operation.path), operation.at, f"forward {operation.path or '/'} on port {port}"
                )
                continue
            shape = split_template(operation.path)[0]
            yield Claim(
                ("route", operation.method, shape),
                operation.at,
                f"{operation.method} {operation.path} on port {port}",
                route=shape,
            )

    def mount(self, mounted: Sequence[Mounted], context: MountContext) -> PortPart:
        routes, forwards = _routes(mounted)
        pages = docs_pages(lambda: self.openapi(mounted, routes)) if context.settings.docs else None
        return PortPart(RestApp(routes, context.executor, context.settings.max_request_body, forwards, pages))

    def openapi(self, mounted: Sequence[Mounted], routes: RouteTable[RestEndpoint] | None = None) -> dict[str, Any]:
        """The OpenAPI document of these adapters on one port (``/openapi.json``, ``naftiko openapi``)."""
        endpoints = (routes or _routes(mounted)[0]).targets()
        return openapi_document((each.adapter for each in mounted), endpoints)

    def describe(self, mounted: Mounted) -> Iterable[RouteRow]:
        for operation, plan in mounted.operations:
            if operation.forward is not None:
                yield RouteRow("rest", f"* {operation.path}/** (forward)", plan)
            else:
                yield RouteRow("rest", f"{operation.method} {operation.path}", plan)


def _routes(mounted: Sequence[Mounted]) -> tuple[RouteTable[RestEndpoint], tuple[ForwardRoute, ...]]:
    """The route table of these adapters, and their forwards, longest prefix first (D82)."""
    routes: RouteTable[RestEndpoint] = RouteTable()
    forwards: list[ForwardRoute] = []
    for each in mounted:
        for operation, plan in each.operations:
            if operation.forward is not None:
                trusted = frozenset(h.lower() for h in operation.forward.trusted_headers)
                forwards.append(ForwardRoute(operation.path, plan, trusted))
            else:
                routes.add(operation.method, operation.path, RestEndpoint.compile(plan))
    forwards.sort(key=lambda route: len(route.prefix), reverse=True)
    return routes, tuple(forwards)
