"""The MCP adapter: tool descriptions (``schemas``), the ``mcp`` servers over Streamable HTTP and
stdio (``endpoints``), and the kind that ties them to the spec and the server (``kind``)."""
