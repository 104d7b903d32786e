"""Logging to stderr, with every known secret scrubbed from every record (CONTRACT D55).

Secrets are known once the binds are resolved; the filter sits on the handler so that records
from any library (uvicorn, httpx, mcp) pass through it too.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

from ..core.redaction import longest_first, redact_text


class SecretFilter(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.secrets: tuple[str, ...] = ()

    def add(self, secrets: Iterable[str]) -> None:
        self.secrets = longest_first([*self.secrets, *secrets])

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg, record.args = redact_text(record.getMessage(), self.secrets), None
            if record.exc_info:
                record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info), self.secrets)
                record.exc_info = None
        return True


SECRETS = SecretFilter()


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SECRETS)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The mcp package logs a line per stateless request ("Terminating session: None"): noise unless debugging.
    logging.getLogger("mcp.server.streamable_http").setLevel("DEBUG" if level.upper() == "DEBUG" else "WARNING")
