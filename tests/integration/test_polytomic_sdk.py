"""Issue 2, acceptance 2: the official `polytomic` SDK is a real client of the REST surface.

`Polytomic(base_url=<gateway>/v1, token="anything", version="2024-02-08", max_retries=0)` drives
all 23 operations; the gateway's own key reaches the upstream (D33).
"""

from __future__ import annotations

import pytest

polytomic_sdk = pytest.importorskip("polytomic")

from polytomic_cases import SYNC_ID  # noqa: E402
from support import API_KEY, Canned  # noqa: E402

SCHEDULE = {"frequency": "daily"}


def calls(client):
    """(name, call, expected method, expected upstream path) for every one of the 23 operations."""
    ms, bs = client.model_sync, client.bulk_sync
    model_body = dict(fields=[], mode="create", name="n", schedule=SCHEDULE, target={"connection_id": "c"})
    bulk_body = dict(
        default_schedule=SCHEDULE,
        destination_configuration={},
        destination_connection_id="d",
        name="n",
        source_connection_id="s",
    )
    return [
        (
            "model_sync.get_source",
            lambda: ms.get_source(SYNC_ID, params={"db": ["sales"]}),
            "GET",
            f"/api/connections/{SYNC_ID}/modelsync/source",
        ),
        (
            "model_sync.get_source_fields",
            lambda: ms.get_source_fields(SYNC_ID, params={"t": ["u"]}),
            "GET",
            f"/api/connections/{SYNC_ID}/modelsync/source/fields",
        ),
        ("model_sync.list", lambda: ms.list(active=True, limit=5), "GET", "/api/syncs"),
        ("model_sync.create", lambda: ms.create(**model_body), "POST", "/api/syncs"),
        ("model_sync.get_schedule_options", lambda: ms.get_schedule_options(), "GET", "/api/syncs/schedules"),
        ("model_sync.get", lambda: ms.get(SYNC_ID), "GET", f"/api/syncs/{SYNC_ID}"),
        ("model_sync.update", lambda: ms.update(SYNC_ID, **model_body), "PUT", f"/api/syncs/{SYNC_ID}"),
        ("model_sync.delete", lambda: ms.delete(SYNC_ID), "DELETE", f"/api/syncs/{SYNC_ID}"),
        ("model_sync.activate", lambda: ms.activate(SYNC_ID, active=True), "POST", f"/api/syncs/{SYNC_ID}/activate"),
        ("model_sync.cancel", lambda: ms.cancel(SYNC_ID), "POST", f"/api/syncs/{SYNC_ID}/cancel"),
        ("model_sync.start", lambda: ms.start(SYNC_ID, resync=True), "POST", f"/api/syncs/{SYNC_ID}/executions"),
        ("model_sync.get_status", lambda: ms.get_status(SYNC_ID), "GET", f"/api/syncs/{SYNC_ID}/status"),
        ("bulk_sync.list", lambda: bs.list(active=False), "GET", "/api/bulk/syncs"),
        ("bulk_sync.create", lambda: bs.create(**bulk_body), "POST", "/api/bulk/syncs"),
        ("bulk_sync.get", lambda: bs.get(SYNC_ID, refresh_schemas=True), "GET", f"/api/bulk/syncs/{SYNC_ID}"),
        ("bulk_sync.update", lambda: bs.update(SYNC_ID, **bulk_body), "PUT", f"/api/bulk/syncs/{SYNC_ID}"),
        ("bulk_sync.delete", lambda: bs.delete(SYNC_ID, refresh_schemas=True), "DELETE", f"/api/bulk/syncs/{SYNC_ID}"),
        (
            "bulk_sync.activate",
            lambda: bs.activate(SYNC_ID, active=False),
            "POST",
            f"/api/bulk/syncs/{SYNC_ID}/activate",
        ),
        ("bulk_sync.cancel", lambda: bs.cancel(SYNC_ID), "POST", f"/api/bulk/syncs/{SYNC_ID}/cancel"),
        ("bulk_sync.start", lambda: bs.start(SYNC_ID, test=True), "POST", f"/api/bulk/syncs/{SYNC_ID}/executions"),
        ("bulk_sync.get_status", lambda: bs.get_status(SYNC_ID), "GET", f"/api/bulk/syncs/{SYNC_ID}/status"),
        (
            "bulk_sync.get_source",
            lambda: bs.get_source(SYNC_ID, include_fields=True),
            "GET",
            f"/api/connections/{SYNC_ID}/bulksync/source",
        ),
        (
            "bulk_sync.get_destination",
            lambda: bs.get_destination(SYNC_ID),
            "GET",
            f"/api/connections/{SYNC_ID}/bulksync/target",
        ),
    ]


@pytest.fixture
def client(polytomic):
    return polytomic_sdk.Polytomic(
        base_url=polytomic.url(8080) + "/v1", token="anything", version="2024-02-08", max_retries=0
    )


def test_sdk_drives_all_23_operations(client, upstream):
    upstream.reset(lambda request: Canned(200, b"{}"))
    table = calls(client)
    assert len(table) == 23
    for name, call, method, path in table:
        upstream.requests.clear()
        call()
        assert len(upstream.requests) == 1, name
        received = upstream.last
        assert (received.method, received.path) == (method, path), name
        assert received.headers["authorization"] == f"Bearer {API_KEY}", name
        assert received.headers["x-polytomic-version"] == "2024-02-08", name


def test_sdk_deep_object_params(client, upstream):
    """D16: the SDK's `params` object arrives upstream as params[key]=value."""
    upstream.reset(lambda request: Canned(200, b"{}"))
    client.model_sync.get_source(SYNC_ID, params={"database": ["sales"], "schema": ["public"]})
    assert sorted(upstream.last.query) == [("params[database]", "sales"), ("params[schema]", "public")]


def test_sdk_sees_upstream_errors(client, upstream):
    """D51: a 404 body passes through unchanged, so the SDK raises its own NotFoundError."""
    upstream.reset(lambda request: Canned(404, b'{"message":"sync not found","status":404}'))
    with pytest.raises(polytomic_sdk.core.api_error.ApiError) as raised:
        client.model_sync.get(SYNC_ID)
    assert raised.value.status_code == 404
    assert raised.value.body.message == "sync not found"
