"""naftiko-runtime: serve declarative Naftiko capability files as live REST and MCP servers.

The path of a request reads top to bottom through the package:
``source`` (YAML with positions) -> ``loader`` (typed ``model``, validated against ``schema``)
-> ``plans`` (everything compiled once) -> ``execution`` (one upstream call, shared) ->
``rest`` / ``mcp_adapter`` (thin protocol adapters) -> ``server`` (ports, lifespan, signals).
"""

__version__ = "0.1.0"
