"""Serve-time settings: everything the command line (or a test) can change (D18, D34, D54)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

DEFAULT_HOST = "127.0.0.1"
BASE_URI_ENV_PREFIX = "NAFTIKO_BASE_URI_"


def base_uri_env_name(namespace: str) -> str:
    """D18: ``polytomic-subpackage-modelsync`` -> ``NAFTIKO_BASE_URI_POLYTOMIC_SUBPACKAGE_MODELSYNC``."""
    return BASE_URI_ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", namespace).upper()


@dataclass
class Settings:
    host: str | None = None
    """Overrides every adapter's address; ``None`` keeps each adapter's own, else 127.0.0.1 (D34)."""
    port_offset: int = 0
    base_uris: dict[str, str] = field(default_factory=dict)
    """``--base-uri NAMESPACE=URL``; wins over the environment variable of the namespace."""
    strict: bool = False
    keep_going: bool = False
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    total_timeout: float = 60.0
    max_request_body: int = 10 * 1024 * 1024
    max_upstream_body: int = 32 * 1024 * 1024
    max_connections: int = 256
    transport: str = "aiohttp"
    """The httpx transport for upstream calls: ``aiohttp`` (fast pool) or ``httpx`` (its own)."""

    def base_uri_for(self, namespace: str, environ: dict[str, str] | None = None) -> str | None:
        if namespace in self.base_uris:
            return self.base_uris[namespace]
        return (os.environ if environ is None else environ).get(base_uri_env_name(namespace)) or None
