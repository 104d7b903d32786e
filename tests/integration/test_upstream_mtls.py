"""mTLS towards a consumed namespace (issue 21 item 4, D124): the client certificate, its key and
the upstream's CA are named in the runtime configuration (D91), never in the capability file.

Against a real loopback TLS server that REQUIRES a client certificate (``CERT_REQUIRED``), with a
CA, server and client certificates made here with ``cryptography``: the right certificate passes;
none, or one from another CA, is a 502 naming the TLS failure, without a traceback or key material;
an unreadable, encrypted or mismatched key stops the configuration at its line.
"""

from __future__ import annotations

import datetime
import logging
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from support import running_gateway

from naftiko_runtime import Settings
from naftiko_runtime.serving.config import ConfigError, apply_config
from naftiko_runtime.settings import TRANSPORTS

CAPABILITY = """\
naftiko: 1.0.0-alpha2
info: {{label: Vault, description: An API behind mutual TLS.}}
capability:
  consumes:
  - type: http
    namespace: vault
    baseUri: {upstream}
    resources:
    - name: secrets
      path: /secrets
      operations:
      - {{name: list, method: GET}}
  exposes:
  - type: rest
    namespace: vault-rest
    port: 8080
    resources:
    - path: /secrets
      operations:
      - {{method: GET, call: vault.list}}
"""


@dataclass
class Issued:
    cert: Path
    key: Path
    key_pem: bytes


class Authority:
    """A CA that signs certificates into ``folder``."""

    def __init__(self, folder: Path, name: str):
        self.folder, self.name = folder, name
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.subject = subject
        self.cert = (
            self._builder(subject, self.key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.path = folder / f"{name}.pem"
        self.path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def _builder(self, subject: x509.Name, public_key: Any) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.subject if hasattr(self, "subject") else subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )

    def issue(self, name: str, *, server: bool) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = self._builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]), key.public_key())
        usage = x509.oid.ExtendedKeyUsageOID.SERVER_AUTH if server else x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        issued = Issued(self.folder / f"{name}.crt", self.folder / f"{name}.key", key_pem)
        issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        issued.key.write_bytes(key_pem)
        return issued


class MutualTLSUpstream:
    """A real HTTPS server on 127.0.0.1 that refuses any client without a certificate from ``ca``."""

    def __init__(self, ca: Authority):
        self.requests: list[str] = []
        server_cert = ca.issue("upstream", server=True)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(server_cert.cert, server_cert.key)
        context.load_verify_locations(ca.path)
        context.verify_mode = ssl.CERT_REQUIRED
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                peer = self.connection.getpeercert() or {}
                subject = dict(pair[0] for pair in peer.get("subject", ()))
                upstream.requests.append(subject.get("commonName", ""))
                body = f'{{"client": "{subject.get("commonName", "")}"}}'.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self) -> Any:
                sock, address = super().get_request()
                return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a refused handshake is what some tests want

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"https://localhost:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> MutualTLSUpstream:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pki(tmp_path):
    ca = Authority(tmp_path, "ca")
    return ca, ca.issue("gateway", server=False), Authority(tmp_path, "rogue").issue("intruder", server=False)


def configure(tmp_path: Path, lines: str) -> Path:
    path = tmp_path / "naftiko.toml"
    path.write_text(f"[namespaces.vault]\n{lines}")
    return path


def tls_lines(ca: Path, issued: Issued | None) -> str:
    """The configuration's TLS keys, paths relative to its folder (as an operator writes them)."""
    own = f'tls_client_cert = "{issued.cert.name}"\ntls_client_key = "{issued.key.name}"\n' if issued else ""
    return f'{own}tls_ca = "{ca.name}"\n'


def call(tmp_path: Path, ca: Authority, config: Path, transport: str) -> httpx.Response:
    """One call through a gateway configured by ``config`` to an upstream that trusts ``ca`` alone."""
    with MutualTLSUpstream(ca) as upstream:
        path = tmp_path / "vault.yml"
        path.write_text(CAPABILITY.format(upstream=upstream.url))
        settings = apply_config(config, Settings(transport=transport), set())
        with running_gateway([path], {}, namespaces=settings.namespaces, transport=transport) as gateway:
            return httpx.get(gateway.url(8080) + "/secrets", timeout=10)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_configured_client_certificate_opens_the_upstream(tmp_path, pki, transport):
    """The right certificate: the upstream sees the gateway's name, over every transport."""
    ca, gateway_cert, _ = pki
    answer = call(tmp_path, ca, configure(tmp_path, tls_lines(ca.path, gateway_cert)), transport)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"client": "gateway"}


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("who", ["nobody", "intruder"])
def test_no_certificate_or_another_cas_is_a_502_naming_tls(tmp_path, pki, transport, who, caplog):
    """Without a certificate, or with one another CA signed, the server refuses the handshake: the
    caller gets a 502 problem that says TLS failed, and nothing of any key, nor does the log."""
    ca, _, intruder = pki
    config = configure(tmp_path, tls_lines(ca.path, intruder if who == "intruder" else None))
    with caplog.at_level(logging.DEBUG):
        answer = call(tmp_path, ca, config, transport)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "PRIVATE KEY" not in logged and intruder.key_pem.decode().splitlines()[1] not in logged
    assert answer.status_code == 502, answer.text
    problem = answer.json()
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "TLS handshake failed" in problem["detail"], problem
    assert "Traceback" not in answer.text and "PRIVATE KEY" not in answer.text
    assert intruder.key_pem.decode().splitlines()[1] not in answer.text


def test_an_untrusted_upstream_is_a_502_naming_tls(tmp_path, pki):
    """Our side checks the server too: the upstream's CA not trusted (the usual bundle) is a 502."""
    ca, gateway_cert, _ = pki
    lines = f'tls_client_cert = "{gateway_cert.cert.name}"\ntls_client_key = "{gateway_cert.key.name}"\n'
    answer = call(tmp_path, ca, configure(tmp_path, lines), "http1")
    assert answer.status_code == 502
    assert "the TLS handshake failed (self-signed certificate in certificate chain)" in answer.json()["detail"]


def refused(config: Path) -> str:
    with pytest.raises(ConfigError) as raised:
        apply_config(config, Settings(), set())
    return str(raised.value)


def test_a_missing_file_is_refused_at_its_line(tmp_path, pki):
    ca, gateway_cert, _ = pki
    config = configure(tmp_path, f'tls_client_cert = "{gateway_cert.cert.name}"\ntls_client_key = "nowhere.key"\n')
    assert refused(config) == (
        f"{config}:3:1: namespaces.vault.tls_client_key: cannot read {tmp_path / 'nowhere.key'}: "
        "No such file or directory"
    )


def test_a_key_of_another_certificate_is_refused_without_its_content(tmp_path, pki):
    ca, gateway_cert, intruder = pki
    config = configure(tmp_path, f'tls_client_cert = "{gateway_cert.cert.name}"\ntls_client_key = "{intruder.key}"\n')
    message = refused(config)
    assert message.startswith(f"{config}:3:1: namespaces.vault.tls_client_key: ")
    assert "are not a PEM certificate and its key: key values mismatch" in message
    assert "PRIVATE" not in message and intruder.key_pem.decode().splitlines()[1] not in message


def test_an_encrypted_key_is_refused_rather_than_prompted_for(tmp_path, pki):
    ca, gateway_cert, _ = pki
    key = serialization.load_pem_private_key(gateway_cert.key_pem, None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"hunter2"),
    )
    (tmp_path / "locked.key").write_bytes(encrypted)
    config = configure(tmp_path, f'tls_client_cert = "{gateway_cert.cert.name}"\ntls_client_key = "locked.key"\n')
    assert "the key is encrypted; give an unencrypted PEM key file" in refused(config)


def test_a_certificate_without_its_key_and_a_bad_value_are_refused(tmp_path, pki):
    ca, gateway_cert, _ = pki
    message = refused(configure(tmp_path, f'tls_client_cert = "{gateway_cert.cert.name}"\ntls_ca = 3\n'))
    assert "namespaces.vault.tls_ca: must be a file path string, not 3" in message
    message = refused(configure(tmp_path, f'tls_client_cert = "{gateway_cert.cert.name}"\n'))
    assert message.endswith(
        "1:1: namespaces.vault: tls_client_key is missing: a client certificate and its key come together"
    )
