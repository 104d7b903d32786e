"""The MCP peer of row 6: FastMCP 2.14.x ``FastMCP.from_openapi`` over the same operation.

Runs in its own virtualenv (fastmcp pins another ``mcp`` than the runtime's); stateless
Streamable HTTP with JSON responses, like ours. Not part of the product.

    /work/bench-venv/bin/python benchmarks/fastmcp_server.py PORT UPSTREAM_URL
"""

import sys
from typing import Any

ITEM = {
    "type": "object",
    "properties": {k: {"type": "string"} for k in ("id", "name", "status", "mode", "created_at", "updated_at")},
}


def openapi_document(upstream_url: str) -> dict[str, Any]:
    """The OpenAPI document of the benchmark's one operation, ``GET /items`` (``list-items``); the
    FastMCP 4.x peer (``fastmcp4_server.py``) serves the same document."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "Bench", "version": "1.0.0"},
        "servers": [{"url": upstream_url}],
        "paths": {
            "/items": {
                "get": {
                    "operationId": "list-items",
                    "summary": "List items",
                    "responses": {
                        "200": {
                            "description": "A page of items",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "data": {"type": "array", "items": ITEM},
                                            "pagination": {"type": "object"},
                                        },
                                    }
                                }
                            },
                        }
                    },
                }
            }
        },
    }


if __name__ == "__main__":
    import httpx
    import uvicorn
    from fastmcp import FastMCP

    client = httpx.AsyncClient(
        base_url=sys.argv[2], timeout=30, limits=httpx.Limits(max_connections=256, max_keepalive_connections=256)
    )
    server = FastMCP.from_openapi(openapi_spec=openapi_document(sys.argv[2]), client=client, name="bench")
    app = server.http_app(path="/mcp", stateless_http=True, json_response=True)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )
