"""``type: text``: each of ``lines`` served at ``GET /<name>`` as ``key: value`` lines of plain
text, its inputs from the query. An adapter kind: parse, claims, mount, describe."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope, Send

from naftiko_runtime.adapters.base import Claim, MountContext, Mounted, PortPart, RouteRow
from naftiko_runtime.core.execution import Executor
from naftiko_runtime.core.plans import OperationPlan
from naftiko_runtime.core.problems import Problem
from naftiko_runtime.spec.builder import ModelBuilder
from naftiko_runtime.spec.diagnostics import DocPath
from naftiko_runtime.spec.model import ExposedAdapter
from naftiko_runtime.spec.shapes import Arr, Kinds, Num, Obj, Str

LINE = Obj("text line", {"name": Str(min_len=1)}, ("name",), closed=False)


class TextKind:
    type = "text"
    features: frozenset[str] = frozenset()
    reference_roots: tuple[str, ...] = ()
    port_alone = False
    shape = Obj(
        "text adapter",
        {
            "type": Kinds(),
            "namespace": Str(min_len=1),
            "port": Num(1, 65535, integer=True),
            "authentication": Kinds(),
            "lines": Arr(LINE, 1),
        },
        ("type", "namespace", "port", "lines"),
    )

    def parse(self, builder: ModelBuilder, node: dict[str, Any], at: DocPath) -> ExposedAdapter | None:
        namespace = builder.text(node, "namespace", at, required=True) or ""
        lines = []
        for item, line_at in builder.items(node, "lines", at):
            item = builder.mapping(item, line_at, "a text line")
            name = builder.text(item, "name", line_at, required=True)
            exposed = name and builder.exposed(
                item, line_at, namespace=namespace, kind=self.type, key=name, name=name, reference_roots=()
            )
            if exposed:
                lines.append(exposed)
        description = builder.text(node, "description", at)
        return ExposedAdapter(self.type, namespace, builder.port(node, at), None, description, tuple(lines), at)

    def claims(self, adapter: ExposedAdapter, port: int) -> Iterable[Claim]:
        for line in adapter.operations:
            yield Claim(("GET", line.key), line.at, f"GET /{line.key} on port {port}", route=(line.key,))

    def mount(self, mounted: Sequence[Mounted], context: MountContext) -> PortPart:
        plans = {exposed.key: plan for each in mounted for exposed, plan in each.operations}
        return PortPart(TextApp(plans, context.executor))

    def describe(self, mounted: Mounted) -> Iterable[RouteRow]:
        for exposed, plan in mounted.operations:
            yield RouteRow(mounted.adapter.namespace, f"GET /{exposed.key}", plan)


class TextApp:
    def __init__(self, plans: dict[str, OperationPlan], executor: Executor):
        self.plans, self.executor = plans, executor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        plan = self.plans.get(scope["path"].strip("/")) if scope["method"] == "GET" else None
        if plan is None:
            return await _answer(send, 404, "no such line")
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        missing = [spec.name for spec in plan.inputs if spec.required and spec.name not in query]
        if missing:
            return await _answer(send, 400, f"missing {', '.join(missing)}")
        inputs = {spec.name: query[spec.name] for spec in plan.inputs if spec.name in query}
        try:
            reply = await self.executor.execute(plan, inputs)
        except Problem as problem:
            return await _answer(send, problem.status, problem.detail)
        if not reply.ok:
            return await _answer(send, reply.status, reply.text())
        value = reply.value if isinstance(reply.value, dict) else {"value": reply.value}
        await _answer(send, 200, "".join(f"{key}: {item}\n" for key, item in value.items()))


async def _answer(send: Send, status: int, text: str) -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
