"""Adapters: the protocol every kind follows (``base``), shared ASGI helpers (``asgi``), one folder
per kind, and the registry that maps the spec's ``type`` to a kind (``registry``)."""
