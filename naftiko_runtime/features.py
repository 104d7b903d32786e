"""The spec features this runtime implements, as named by the conformance suite's cases.

A case that needs a feature missing here counts as "not implemented", never as passed.
"""

IMPLEMENTED = frozenset({
    "loading",        # D1-D5: YAML, schema, semantic checks, positions
    "binds",          # D10-D13: environment and file binds, templates
    "simple",         # call + with + mapped outputs
    "auth.consumed",  # basic, digest, bearer, apikey on consumed APIs
    "bodies",         # operation-level body: json, text, xml, sparql, formUrlEncoded, raw
    "rest",           # the REST adapter
    "mcp",            # the MCP adapter: tools over Streamable HTTP
    "mcp.stdio",      # the MCP adapter over stdin/stdout
    "multi-file",     # D30-D34
})

PLANNED = frozenset({
    "orchestrated", "lookup", "script", "aggregates", "forward", "mock", "formats.xml", "formats.csv",
    "formats.yaml", "formats.html", "formats.markdown", "formats.avro", "formats.protobuf", "auth.exposed",
    "mcp.resources", "mcp.prompts", "skill", "control", "observability", "bodies.multipart", "consumes.import",
})
