"""The MCP peer of row 6: FastMCP 4.x ``FastMCP.from_openapi`` over the same operation (issue 22).

The idiomatic 4.x way: ``from_openapi`` (an ``OpenAPIProvider`` underneath) with an ``httpx2``
client pooled as wide as the load, served by ``http_app(stateless_http=True, json_response=True)``
under uvicorn on uvloop + httptools, like ours. Runs in its own virtualenv (FastMCP 4 pins its own
``mcp`` 2.x and ``httpx2``). The OpenAPI document is the 2.14 peer's (``fastmcp_server.OPENAPI``),
so both peers expose the same operation. Not part of the product.

    /work/bench-venv-fastmcp4/bin/python benchmarks/fastmcp4_server.py PORT UPSTREAM_URL
"""

import sys
from pathlib import Path

import httpx2
import uvicorn
from fastmcp import FastMCP

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fastmcp_server import openapi_document

if __name__ == "__main__":
    port, upstream_url = int(sys.argv[1]), sys.argv[2]
    client = httpx2.AsyncClient(
        base_url=upstream_url,
        timeout=30,
        limits=httpx2.Limits(max_connections=256, max_keepalive_connections=256),
    )
    server = FastMCP.from_openapi(openapi_spec=openapi_document(upstream_url), client=client, name="bench")
    app = server.http_app(path="/mcp", stateless_http=True, json_response=True)
    uvicorn.run(
        app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", access_log=False, log_level="warning"
    )
