"""The ``x-naftiko-a2a`` adapter kind: MCP tools of the same file served as the skills of an A2A
v1.0 agent (issue 21 item 5, D108), through the official ``a2a-sdk`` (the ``a2a`` extra)."""
