"""One table of the 23 Polytomic operations, driving both the REST and the MCP adapter tests.

Each case gives the caller's inputs once; the REST test turns them into an HTTP request, the MCP
test into tool arguments, and both assert that the upstream receives the same request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SYNC_ID = "0b1f4c2e-8a3d-4f5b-9c6d-7e8f9a0b1c2d"
BODY = {"name": "nightly", "schedule": {"frequency": "daily"}, "fields": [{"source": "a", "target": "b"}]}


@dataclass(frozen=True)
class Case:
    tool: str
    method: str
    rest_path: str
    """The exposed REST path with placeholders filled (``{id}`` -> the case's id)."""
    upstream_path: str
    query: dict[str, Any] = field(default_factory=dict)
    """Inputs carried in the query: scalars, and ``params`` as an object (deepObject, D16)."""
    body: Any = None
    id: str | None = None

    @property
    def arguments(self) -> dict[str, Any]:
        """The same inputs as MCP tool arguments."""
        args: dict[str, Any] = dict(self.query)
        if self.id is not None:
            args["id"] = self.id
        if self.body is not None:
            args["body"] = self.body
        return args

    @property
    def expected_query(self) -> list[tuple[str, str]]:
        pairs = []
        for name, value in self.query.items():
            if isinstance(value, dict):
                pairs += [(f"{name}[{k}]", v) for k, v in value.items()]
            elif isinstance(value, bool):
                pairs.append((name, "true" if value else "false"))
            else:
                pairs.append((name, str(value)))
        return pairs


def _case(tool: str, method: str, path: str, **kwargs: Any) -> Case:
    filled = path.replace("{id}", SYNC_ID)
    return Case(tool, method, "/v1" + filled, filled, id=SYNC_ID if "{id}" in path else None, **kwargs)


MODEL_SYNC = [
    _case("get-sync-source", "GET", "/api/connections/{id}/modelsync/source", query={"params": {"database": "sales"}}),
    _case(
        "model-sync-field-query",
        "GET",
        "/api/connections/{id}/modelsync/source/fields",
        query={"params": {"table": "users"}},
    ),
    _case(
        "list-syncs",
        "GET",
        "/api/syncs",
        query={"active": True, "mode": "create", "target_connection_id": "c-1", "page_token": "p2", "limit": 5},
    ),
    _case("create-sync", "POST", "/api/syncs", body=BODY),
    _case("get-sync-schedule-options", "GET", "/api/syncs/schedules"),
    _case("get-sync", "GET", "/api/syncs/{id}"),
    _case("update-sync", "PUT", "/api/syncs/{id}", body=BODY),
    _case("delete-model-sync", "DELETE", "/api/syncs/{id}"),
    _case("activate-sync", "POST", "/api/syncs/{id}/activate", body={"active": True}),
    _case("cancel-sync", "POST", "/api/syncs/{id}/cancel"),
    _case("start-sync", "POST", "/api/syncs/{id}/executions", body={"resync": False, "test": True}),
    _case("get-sync-status", "GET", "/api/syncs/{id}/status"),
]

BULK_SYNC = [
    _case("list-bulk-syncs", "GET", "/api/bulk/syncs", query={"active": False}),
    _case("create-bulk-sync", "POST", "/api/bulk/syncs", body=BODY),
    _case("get-bulk-sync", "GET", "/api/bulk/syncs/{id}", query={"refresh_schemas": True}),
    _case("update-bulk-sync", "PUT", "/api/bulk/syncs/{id}", body=BODY),
    _case("delete-bulk-sync", "DELETE", "/api/bulk/syncs/{id}", query={"refresh_schemas": False}),
    _case("activate-bulk-sync", "POST", "/api/bulk/syncs/{id}/activate", body={"active": False}),
    _case("cancel-bulk-sync", "POST", "/api/bulk/syncs/{id}/cancel"),
    _case("start-bulk-sync-execution", "POST", "/api/bulk/syncs/{id}/executions", body={"test": True}),
    _case("get-bulk-sync-status", "GET", "/api/bulk/syncs/{id}/status"),
    _case("get-bulk-source", "GET", "/api/connections/{id}/bulksync/source", query={"include_fields": True}),
    _case("get-bulk-destination", "GET", "/api/connections/{id}/bulksync/target"),
]

CASES = MODEL_SYNC + BULK_SYNC
assert len(CASES) == 23
