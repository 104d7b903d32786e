"""The runtime's version, in a module of its own so that every layer can name it (User-Agent, MCP
``serverInfo``) without importing the package's public API."""

__version__ = "0.2.0"
