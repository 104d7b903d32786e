"""``naftiko routes``: every route and tool of every adapter, with the consumed operations it calls;
``naftiko openapi``: the OpenAPI document each REST port serves at ``/openapi.json``."""

from __future__ import annotations

from typing import Any

from ..adapters.base import Mounted, OpenApiDescribing
from ..adapters.registry import KINDS
from ..core.plans import OperationPlan
from ..core.steps import RoutedElsewhere
from .listeners import ListenerSet


def _calls(plan: OperationPlan) -> str:
    calls = []
    for call in plan.calls:
        path = "".join(p if isinstance(p, str) else "{" + p.text + "}" for p in call.path_parts)
        calls.append(f"{call.label}  {call.method} {call.base_uri.rstrip('/')}{path}")
    # Steps calling elsewhere than a consumed operation say what (D113: a tool and its server's URL).
    calls += [step.route_call for step in plan.steps if isinstance(step, RoutedElsewhere)]
    return "; ".join(calls)


def route_rows(listeners: ListenerSet) -> list[str]:
    rows: list[tuple[str, ...]] = [("ADDRESS", "ADAPTER", "ROUTE OR TOOL(REQUIRED ARGUMENTS)", "CALLS")]
    placed: list[tuple[str, Mounted]] = [
        (f"{listener.host}:{port}", mounted)
        for port, listener in sorted(listeners.listeners.items())
        for each in listener.mounted.values()
        for mounted in each
    ]
    placed += [("stdio", mounted) for mounted in listeners.portless]
    for address, mounted in placed:
        for row in KINDS[mounted.adapter.kind].describe(mounted):
            rows.append((address, row.adapter, row.entry, _calls(row.plan)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return ["  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)).rstrip() for row in rows]


def openapi_documents(listeners: ListenerSet) -> dict[int, dict[str, Any]]:
    """By port, the document of every port that serves adapters of a kind described by OpenAPI
    (REST): one document per port, from the first such kind placed there."""
    documents: dict[int, dict[str, Any]] = {}
    for port, listener in sorted(listeners.listeners.items()):
        for kind_type, mounted in listener.mounted.items():
            kind = KINDS[kind_type]
            if mounted and isinstance(kind, OpenApiDescribing) and port not in documents:
                documents[port] = kind.openapi(mounted)
    return documents
