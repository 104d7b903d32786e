"""The reference point of row 2: a minimal Starlette pass-through proxy over aiohttp's client.

The fastest Python gateway design we know, ~20 lines; not part of the product.

    python benchmarks/aiohttp_proxy.py PORT UPSTREAM_URL
"""

import sys

import aiohttp
import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response

UPSTREAM = sys.argv[2].rstrip("/")
session: aiohttp.ClientSession | None = None


async def proxy(scope, receive, send):
    global session
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await session.close() if session else None
        return await send({"type": "lifespan.shutdown.complete"})
    session = session or aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256))
    async with session.get(UPSTREAM + scope["path"]) as upstream:
        body = await upstream.read()
        response = Response(body, upstream.status, media_type=upstream.headers.get("content-type"))
    await response(scope, receive, send)


app = Starlette()
app.router.default = proxy  # every path, one GET upstream: as thin as a Starlette app gets

if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )
