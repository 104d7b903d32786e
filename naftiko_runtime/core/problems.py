"""Errors made by the runtime itself, as RFC 9457 problem details (CONTRACT D53).

Every such error is a ``Problem``: raised anywhere in the execution core, rendered by the REST
adapter as ``application/problem+json`` and by the MCP adapter as an ``isError`` tool result.
A 500 is always a bug.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import orjson

from ..records import dataclass
from ..spec.exactjson import dumps


@dataclass(frozen=True)
class InputProblem:
    """One thing wrong with a caller's input: which input, where it was carried, and why (D27)."""

    name: str
    location: str
    """The input's ``in``: path, query, header, cookie or body (what a REST caller fixes)."""
    problem: str

    def document(self) -> dict[str, str]:
        return {"name": self.name, "in": self.location, "problem": self.problem}

    def __str__(self) -> str:
        return f"{self.name} ({self.location}): {self.problem}"


class Problem(Exception):
    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[InputProblem] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}

    @property
    def title(self) -> str:
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return "Error"

    def document(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = [error.document() for error in self.errors]
        return body

    def body(self, instance: str | None = None) -> bytes:
        return orjson.dumps(self.document(instance))


def encode_json(value: Any, status: int, what: str) -> bytes:
    """JSON bytes, or a ``Problem``: orjson decodes 1024 levels but encodes only 254, so a deep
    document is the caller's (400) or the upstream's (502) fault, never a 500 (D53). Numbers are
    exact whatever their size (issue 20)."""
    try:
        return dumps(value)
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        raise Problem(status, f"{what} cannot be encoded as JSON: {exc}") from exc


def bad_input(errors: list[InputProblem]) -> Problem:
    """D27: every problem with the inputs at once, so that a caller fixes them in one go."""
    return Problem(400, f"invalid input: {'; '.join(str(e) for e in errors)}", errors=errors)
