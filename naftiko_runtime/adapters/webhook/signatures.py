"""The three HMAC-SHA256 signature styles a webhook sender uses, each checked as its provider documents.

| style | headers | signed content | encoding |
|---|---|---|---|
| ``standard-webhooks`` | ``webhook-id``, ``-timestamp``, ``-signature: v1,<sig> ...`` | ``id.ts.body`` | base64 |
| ``github`` | ``X-Hub-Signature-256: sha256=<sig>`` | the body | hex |
| ``stripe`` | ``Stripe-Signature: t=<ts>,v1=<sig>,...`` | ``ts.body`` | hex |

A Standard Webhooks secret is base64 after its ``whsec_`` prefix; the others are used as written.

Every comparison is ``hmac.compare_digest``, so the time a refusal takes says nothing about how
close a forgery was; any one of several signatures may match (a sender rotating its secret signs
with both). A timestamp further than the tolerance from now, either way, is refused: an old
capture cannot be replayed, and a forged future time cannot outlive the window.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Mapping

from ...records import dataclass

STYLES = ("standard-webhooks", "github", "stripe")
STANDARD_SECRET_PREFIX = "whsec_"


class SignatureRefused(Exception):
    """Why an event is not let in; the message names no secret and no expected signature."""


@dataclass(frozen=True)
class Verified:
    """A delivery whose signature matched: its id when the signature covers one (Standard Webhooks)."""

    event_id: str | None


def _mac(key: bytes, content: bytes) -> bytes:
    return hmac.new(key, content, hashlib.sha256).digest()


def _fresh(timestamp: str | None, now: float, tolerance: float) -> int:
    if timestamp is None or not timestamp.isdigit():
        raise SignatureRefused("the signature's timestamp is missing or not a number of seconds")
    seconds = int(timestamp)
    if abs(now - seconds) > tolerance:
        raise SignatureRefused(f"the signature's timestamp is outside the {tolerance:g} s tolerance")
    return seconds


def _any_matches(expected: bytes, candidates: list[bytes]) -> bool:
    matched = False
    for candidate in candidates:  # every candidate compared: the count of tries is all that shows
        matched |= hmac.compare_digest(expected, candidate)
    return matched


def standard_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: base64 after the optional ``whsec_`` prefix."""
    try:
        return base64.b64decode(secret.removeprefix(STANDARD_SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a Standard Webhooks secret is base64 after 'whsec_'") from exc


def _standard(key: bytes, headers: Mapping[str, str], body: bytes, now: float, tolerance: float) -> Verified:
    event_id, timestamp = headers.get("webhook-id"), headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not event_id or signatures is None:
        raise SignatureRefused("webhook-id, webhook-timestamp and webhook-signature are required")
    _fresh(timestamp, now, tolerance)
    expected = base64.b64encode(_mac(key, f"{event_id}.{timestamp}.".encode() + body))
    versioned = (part.partition(",") for part in signatures.split())
    given = [sig.encode() for version, _, sig in versioned if version == "v1"]
    if not _any_matches(expected, given):
        raise SignatureRefused("no v1 signature in webhook-signature matches the body")
    return Verified(event_id)


def _github(key: bytes, headers: Mapping[str, str], body: bytes, now: float, tolerance: float) -> Verified:
    header = headers.get("x-hub-signature-256", "")
    scheme, _, given = header.partition("=")
    if scheme != "sha256" or not given:
        raise SignatureRefused("X-Hub-Signature-256: sha256=<hex> is required")
    if not _any_matches(_mac(key, body).hex().encode(), [given.encode()]):
        raise SignatureRefused("X-Hub-Signature-256 does not match the body")
    return Verified(None)


def _stripe(key: bytes, headers: Mapping[str, str], body: bytes, now: float, tolerance: float) -> Verified:
    pairs = [part.partition("=") for part in headers.get("stripe-signature", "").split(",")]
    timestamps = [value for name, _, value in pairs if name.strip() == "t"]
    given = [value.encode() for name, _, value in pairs if name.strip() == "v1"]
    if len(timestamps) != 1 or not given:
        raise SignatureRefused("Stripe-Signature: t=<timestamp>,v1=<hex> is required")
    _fresh(timestamps[0], now, tolerance)
    if not _any_matches(_mac(key, timestamps[0].encode() + b"." + body).hex().encode(), given):
        raise SignatureRefused("no v1 signature in Stripe-Signature matches the body")
    return Verified(None)


Verifier = Callable[[bytes, Mapping[str, str], bytes, float, float], Verified]
VERIFIERS: dict[str, Verifier] = {"standard-webhooks": _standard, "github": _github, "stripe": _stripe}


def signing_key(style: str, secret: str) -> bytes:
    """The HMAC key for ``style``: GitHub and Stripe use the secret's text as it is (Stripe's own
    ``whsec_`` included), Standard Webhooks its base64 payload."""
    return standard_key(secret) if style == "standard-webhooks" else secret.encode()


def verify(style: str, key: bytes, headers: Mapping[str, str], body: bytes, now: float, tolerance: float) -> Verified:
    """The delivery, verified, or ``SignatureRefused``; ``headers`` keyed by lower-case name."""
    return VERIFIERS[style](key, headers, body, now, tolerance)
