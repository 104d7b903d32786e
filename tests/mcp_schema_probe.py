"""A synchronous look at one tool's input schema, through the `mcp` client."""

from __future__ import annotations

import asyncio

from mcp import Client


def tool_schema(url: str, name: str) -> dict:
    async def fetch() -> dict:
        async with Client(url) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            return tools[name].input_schema

    return asyncio.run(fetch())
