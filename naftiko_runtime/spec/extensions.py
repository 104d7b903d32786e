"""Keys this runtime reads that no official schema knows (naftiko-runtime extensions).

An extension is never accepted silently: the shape checks let it through so that the builder can
read it and check its fields, and the builder always warns that the key is not in the official
schema, so that ``--strict`` (every warning an error) refuses the file and a file meant to stay
portable to the reference engine is told why.
"""

from __future__ import annotations

OAUTH2_CLIENT_CREDENTIALS = "x-naftiko-oauth2-client-credentials"
"""On a consumed entry: fetch the upstream's bearer token from a token endpoint (RFC 6749 §4.4)."""
OAUTH2_CLIENT_CREDENTIALS_INSTEAD = (
    "declare the grant in the runtime configuration (--config, D91) to keep the file valid"
)
"""The conforming way to the same grant (``[namespaces.NAME.oauth2_client_credentials]``)."""
CLIENT_CREDENTIALS_FIELDS = ("tokenUrl", "clientId", "clientSecret", "scope", "audience", "clientAuthentication")
ICONS = "x-naftiko-icons"
"""On ``info`` (the MCP server's icons) and on an MCP tool (the tool's): MCP's ``icons`` (D111)."""
ICONS_INSTEAD = "remove it to keep the file valid (the MCP server and tools are then served without icons)"
MCP_CONSUMES = "mcp"
"""``type: mcp`` on a consumed entry: an upstream MCP server over Streamable HTTP at ``baseUri``,
whose tools steps call as ``<namespace>.<tool>`` (D113)."""
MCP_CONSUMES_INSTEAD = "no portable form exists yet: keep upstream MCP servers in files served by this runtime only"
CLIENT_AUTHENTICATIONS = ("basic", "body")
"""``basic``: ``client_secret_basic`` (the RFC's default); ``body``: ``client_secret_post``."""

CACHE = "x-naftiko-cache"
"""On a consumed GET operation: its answers go through the shared cache, by this rule (D123)."""
CACHE_FIELDS = ("enabled", "ttl", "vary")
CACHE_INSTEAD = "turn the cache on per namespace in the runtime configuration ([namespaces.NAME.cache], D91)"


def not_official(key: str, instead: str) -> str:
    """The warning every extension key gets, wherever it is, with the way that keeps the file valid."""
    return (
        f"'{key}' is a naftiko-runtime extension, not in the official schema: the reference engine "
        f"does not know it, and --strict refuses it; {instead}"
    )


EXTENSION_KEYS = (OAUTH2_CLIENT_CREDENTIALS, ICONS, CACHE)
"""Every extension key the shape tables let through (a ``type: mcp`` entry adds no key)."""
