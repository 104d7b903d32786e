"""The gateway's secrets, kept out of everything it answers or logs (CONTRACT D55, D56).

One rule for what counts as a secret and one replacement text, shared by the executor (upstream
bodies and passed-back headers) and the log filter.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable

import orjson

REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 4
"""Shorter values (``1``, ``yes``) would blank out ordinary text without protecting anything."""


def is_secret(value: str | None) -> bool:
    return bool(value) and len(value or "") >= MIN_SECRET_LENGTH


def longest_first(secrets: Iterable[str]) -> tuple[str, ...]:
    """Distinct secrets, longest first, so that a secret containing another is replaced whole."""
    return tuple(sorted({s for s in secrets if is_secret(s)}, key=len, reverse=True))


def secret_forms(secrets: Iterable[str]) -> tuple[bytes, ...]:
    """Each secret as it may appear in an upstream body: raw and JSON-escaped, longest first."""
    forms = {form for secret in longest_first(secrets) for form in (secret.encode(), orjson.dumps(secret)[1:-1])}
    return tuple(sorted(forms, key=len, reverse=True))


def redact_text(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_bytes(data: bytes, forms: tuple[bytes, ...]) -> bytes:
    for form in forms:
        if form in data:
            data = data.replace(form, REDACTED.encode())
    return data


async def redact_stream(chunks: AsyncGenerator[bytes, None], forms: tuple[bytes, ...]) -> AsyncGenerator[bytes, None]:
    """``redact_bytes`` over a body that arrives in chunks: the last few bytes of each chunk wait
    for the next, so that a secret split across two chunks is still found whole."""
    keep = max(map(len, forms)) - 1
    pending = b""
    try:
        async for chunk in chunks:
            data = redact_bytes(pending + chunk, forms)
            cut = max(len(data) - keep, 0)
            pending = data[cut:]
            if cut:
                yield data[:cut]
        if pending:
            yield redact_bytes(pending, forms)
    finally:
        await chunks.aclose()
