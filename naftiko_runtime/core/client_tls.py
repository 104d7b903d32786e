"""TLS towards one consumed namespace: a client certificate (mTLS) and the CA its server is checked
against, named in the runtime configuration (issue 21; D91, D124), and the words a failed handshake
is reported in.

A context is built from files, so a wrong file must stop ``serve`` before anything is served
(``serving.config`` builds it once to check), and a failed handshake must reach the caller as a
502 naming TLS, never as a traceback or with any part of a key.
"""

from __future__ import annotations

import functools
import ssl

import httpx

from ..settings import ClientTLS


class ClientTLSError(ValueError):
    """A certificate, key or CA file that cannot be used; ``field`` is the configuration key at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class ClosedAfterHandshake(ConnectionError):
    """A fresh TLS connection closed before any answer byte: under TLS 1.3 a server refuses a
    client certificate (or its absence) after the handshake, and the refusal's alert is often lost
    to our request's write meeting the closed socket."""

    def __str__(self) -> str:
        return "the upstream closed the connection before answering; it may require or refuse a client certificate"


@functools.lru_cache(maxsize=1)
def shared_tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every upstream: building one loads the CA bundle (~30 ms), which
    per namespace made a 1,000-file serve spend 70% of its start-up here. The conformance runner's
    client per case takes it too (``conformance.runner``)."""
    return httpx.create_ssl_context()


def _no_password() -> bytes:
    """An encrypted key would make OpenSSL prompt on the terminal: refuse it instead."""
    raise ClientTLSError("tls_client_key", "the key is encrypted; give an unencrypted PEM key file")


def client_tls_context(tls: ClientTLS) -> ssl.SSLContext:
    """A verifying context presenting ``tls``' certificate, trusting ``tls.ca`` alone when given
    (a private CA), else the usual bundle. Raises ``ClientTLSError`` naming the file at fault."""
    if tls.ca is None:
        context = httpx.create_ssl_context()
    else:
        try:
            context = ssl.create_default_context(cafile=tls.ca)
        except OSError as exc:
            raise ClientTLSError("tls_ca", f"cannot read CA file {tls.ca}: {_reason(exc)}") from None
    if tls.cert is None or tls.key is None:
        return context
    for field, path in (("tls_client_cert", tls.cert), ("tls_client_key", tls.key)):
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise ClientTLSError(field, f"cannot read {path}: {_reason(exc)}") from None
    try:
        context.load_cert_chain(tls.cert, tls.key, password=_no_password)
    except ssl.SSLError as exc:
        raise ClientTLSError(
            "tls_client_key", f"{tls.cert} and {tls.key} are not a PEM certificate and its key: {_reason(exc)}"
        ) from None
    return context


def _reason(exc: OSError) -> str:
    """An error's short cause: OpenSSL's reason code or the system's message, nothing of a file's content."""
    if isinstance(exc, ssl.SSLError):
        return str(getattr(exc, "verify_message", None) or exc.reason or type(exc).__name__).replace("_", " ").lower()
    return exc.strerror or type(exc).__name__


def tls_failure(exc: BaseException) -> str | None:
    """How a TLS handshake failed, if that is what broke ``exc`` (anywhere in its causes): a server
    certificate not trusted, or the server refusing ours (a TLS 1.3 server says so after the
    handshake, on the first read)."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        cause = pending.pop()
        if cause is None or id(cause) in seen:
            continue
        seen.add(id(cause))
        if isinstance(cause, ssl.SSLError):
            return _reason(cause)
        if isinstance(cause, ClosedAfterHandshake):
            return str(cause)
        pending += [cause.__cause__, cause.__context__, getattr(cause, "os_error", None)]
    return None
