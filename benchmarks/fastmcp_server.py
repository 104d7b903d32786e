"""The MCP peer of row 6: FastMCP 2.14.x ``FastMCP.from_openapi`` over the same operation.

Runs in its own virtualenv (fastmcp pins another ``mcp`` than the runtime's); stateless
Streamable HTTP with JSON responses, like ours. Not part of the product.

    /work/bench-venv/bin/python benchmarks/fastmcp_server.py PORT UPSTREAM_URL
"""

import sys

import httpx
import uvicorn
from fastmcp import FastMCP

ITEM = {
    "type": "object",
    "properties": {k: {"type": "string"} for k in ("id", "name", "status", "mode", "created_at", "updated_at")},
}
OPENAPI = {
    "openapi": "3.0.3",
    "info": {"title": "Bench", "version": "1.0.0"},
    "servers": [{"url": sys.argv[2]}],
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
    client = httpx.AsyncClient(
        base_url=sys.argv[2], timeout=30, limits=httpx.Limits(max_connections=256, max_keepalive_connections=256)
    )
    server = FastMCP.from_openapi(openapi_spec=OPENAPI, client=client, name="bench")
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
