"""The ``rest`` adapter kind: its model, its claims on a port, its handler and its routes listing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ...spec.builder import ModelBuilder
from ...spec.diagnostics import DocPath
from ...spec.model import ExposedAdapter
from ..base import Claim, MountContext, Mounted, PortPart, RouteRow
from .app import RestApp
from .docs import docs_pages
from .endpoints import RestEndpoint
from .openapi import openapi_document
from .routing import PathTemplateError, RouteTable, split_template


class RestKind:
    type: str = "rest"
    features: frozenset[str] = frozenset({"rest"})
    reference_roots: tuple[str, ...] = ("rest",)

    def parse(self, builder: ModelBuilder, node: dict[str, Any], at: DocPath) -> ExposedAdapter | None:
        namespace = builder.text(node, "namespace", at, required=True) or ""
        port = builder.port(node, at)
        adapter_inputs = builder.parameters(node, at, consumed=False)
        operations = []
        for resource, r_at in builder.items(node, "resources", at):
            resource = builder.mapping(resource, r_at, "a resource")
            builder.refuse(resource, "forward", r_at, "'forward' (pass-through proxying)")
            path = builder.text(resource, "path", r_at, required=True) or "/"
            try:
                path_parameters = tuple(name for name in split_template(path)[1] if name)
            except PathTemplateError as exc:
                builder.error(r_at + ("path",), str(exc))
                continue
            inherited = adapter_inputs + builder.parameters(resource, r_at, consumed=False)
            for op, o_at in builder.items(resource, "operations", r_at):
                op = builder.mapping(op, o_at, "an operation")
                method = (builder.text(op, "method", o_at) or "GET").upper()
                name = builder.text(op, "name", o_at) or str(resource.get("name") or "")
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

    def claims(self, adapter: ExposedAdapter, port: int) -> Iterable[Claim]:
        """D32: a method and path shape (placeholder names ignored) once per port."""
        for operation in adapter.operations:
            shape = split_template(operation.path)[0]
            yield Claim(
                ("route", operation.method, shape),
                operation.at,
                f"{operation.method} {operation.path} on port {port}",
                route=shape,
            )

    def mount(self, mounted: Sequence[Mounted], context: MountContext) -> PortPart:
        routes = _routes(mounted)
        pages = docs_pages(self.openapi(mounted, routes)) if context.settings.docs else None
        return PortPart(RestApp(routes, context.executor, context.settings.max_request_body, pages))

    def openapi(self, mounted: Sequence[Mounted], routes: RouteTable[RestEndpoint] | None = None) -> dict[str, Any]:
        """The OpenAPI document of these adapters on one port (``/openapi.json``, ``naftiko openapi``)."""
        endpoints = (routes or _routes(mounted)).targets()
        return openapi_document((each.adapter for each in mounted), endpoints)

    def describe(self, mounted: Mounted) -> Iterable[RouteRow]:
        for operation, plan in mounted.operations:
            yield RouteRow("rest", f"{operation.method} {operation.path}", plan)


def _routes(mounted: Sequence[Mounted]) -> RouteTable[RestEndpoint]:
    routes: RouteTable[RestEndpoint] = RouteTable()
    for each in mounted:
        for operation, plan in each.operations:
            routes.add(operation.method, operation.path, RestEndpoint.compile(plan))
    return routes
