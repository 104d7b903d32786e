"""Issue 13, item 3: binary content (beta4 ``outputRawFormat: binary``, ``outputMediaType``,
``maxBinarySize``, exposed ``responseBinary``/``responses``), in the alpha2-shaped model.

REST passes the bytes on as they arrive (proved without timing: the upstream holds back the rest
of its body until the client has received the first part), within ``maxBinarySize``, with the
declared Content-Type and the upstream's Content-Disposition; MCP answers an embedded resource
whose contents are a base64 blob.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import Canned, running_gateway

from naftiko_runtime.core.redaction import redact_bytes, redact_stream, secret_forms

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def capability(tmp_path: Path, operation_keys: str = "", exposed_keys: str = "") -> Path:
    file = tmp_path / "photos.yaml"
    file.write_text(f"""naftiko: 1.0.0-alpha2
info: {{label: Photos, description: Binary content.}}
capability:
  consumes:
    - type: http
      namespace: photos
      baseUri: http://upstream.invalid
      resources:
        - name: photo
          path: /photos/{{{{id}}}}/binary
          operations:
            - name: download
              method: GET
              inputParameters: [{{name: id, in: path}}]
              outputRawFormat: binary{operation_keys}
  exposes:
    - type: rest
      namespace: photos-rest
      port: 8080
      resources:
        - path: /photos/{{{{id}}}}/image
          operations:
            - method: GET
              call: photos.download
              with: {{id: rest.id}}{exposed_keys}
    - type: mcp
      namespace: photos-mcp
      port: 9090
      tools:
        - name: get-photo
          description: The photo's bytes.
          call: photos.download
          with: {{id: tools.id}}
          inputParameters: [{{name: id, type: string, description: Photo id.}}]
""")
    return file


def test_rest_passes_bytes_with_declared_media_type_and_disposition(tmp_path, upstream):
    file = capability(
        tmp_path,
        "\n              outputMediaType: image/png",
        "\n              responseBinary: {status: 200, mediaType: image/x-png}",
    )
    with running_gateway([file], {}, base_uris={"photos": upstream.url}) as gw:
        headers = {"Content-Type": "application/octet-stream", "Content-Disposition": 'attachment; filename="p.png"'}
        upstream.reset(lambda r: Canned(200, PNG, headers))
        response = httpx.get(gw.url(8080) + "/photos/7/image")
        assert response.status_code == 200 and response.content == PNG
        assert response.headers["content-type"] == "image/x-png"  # the exposed response wins
        assert response.headers["content-disposition"] == 'attachment; filename="p.png"'
        assert upstream.last.path == "/photos/7/binary"
        upstream.reset(lambda r: Canned(404, b'{"error":"no photo"}'))
        missing = httpx.get(gw.url(8080) + "/photos/8/image")
        assert missing.status_code == 404 and missing.json() == {"error": "no photo"}  # D51


def test_output_media_type_then_upstream_type(tmp_path, upstream):
    with running_gateway([capability(tmp_path, "\n              outputMediaType: image/png")], {},
                         base_uris={"photos": upstream.url}) as gw:  # fmt: skip
        upstream.reset(lambda r: Canned(200, PNG, {"Content-Type": "application/octet-stream"}))
        assert httpx.get(gw.url(8080) + "/photos/7/image").headers["content-type"] == "image/png"
    with running_gateway([capability(tmp_path)], {}, base_uris={"photos": upstream.url}) as gw:
        upstream.reset(lambda r: Canned(200, PNG, {"Content-Type": "image/gif"}))
        assert httpx.get(gw.url(8080) + "/photos/7/image").headers["content-type"] == "image/gif"


def test_mcp_answers_an_embedded_blob(tmp_path, upstream):
    file = capability(tmp_path, "\n              outputMediaType: image/png")
    with running_gateway([file], {}, base_uris={"photos": upstream.url}) as gw:
        upstream.reset(lambda r: Canned(200, PNG, {"Content-Type": "application/octet-stream"}))
        response = httpx.post(
            gw.url(9090) + "/mcp",
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "get-photo", "arguments": {"id": "7"}},
            },
            headers={"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"},
        )
        result = response.json()["result"]
        assert result["isError"] is False
        [content] = result["content"]
        assert content["type"] == "resource"
        assert content["resource"]["mimeType"] == "image/png"
        assert base64.b64decode(content["resource"]["blob"]) == PNG


class HeldBackUpstream:
    """Sends the first part of a chunked body, then the rest only once ``release`` is set."""

    def __init__(self, first: bytes, rest: bytes):
        self.release = threading.Event()
        held = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(first), first))
                    self.wfile.flush()
                    held.release.wait(20)
                    self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(rest), rest))
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def test_rest_streams_without_waiting_for_the_whole_body(tmp_path):
    first, rest = b"A" * 65536, b"B" * 65536
    held = HeldBackUpstream(first, rest)
    try:
        with running_gateway([capability(tmp_path)], {}, base_uris={"photos": held.url}) as gw:
            received = b""
            with httpx.stream("GET", gw.url(8080) + "/photos/1/image", timeout=15) as response:
                for chunk in response.iter_bytes():
                    received += chunk
                    if len(received) >= len(first):
                        # Only now may the upstream finish: a gateway holding the whole body would
                        # never have let the first part through, and this test would time out.
                        held.release.set()
            assert received == first + rest
    finally:
        held.close()


def test_max_binary_size_is_enforced(tmp_path, upstream):
    file = capability(tmp_path, "\n              maxBinarySize: 1KiB")
    with running_gateway([file], {}, base_uris={"photos": upstream.url}) as gw:
        upstream.reset(lambda r: Canned(200, b"x" * 1024, {"Content-Type": "image/png"}))
        assert len(httpx.get(gw.url(8080) + "/photos/1/image").content) == 1024
        upstream.reset(lambda r: Canned(200, b"x" * 1025, {"Content-Type": "image/png"}))
        response = httpx.get(gw.url(8080) + "/photos/1/image")  # a declared length: refused before any byte
        assert response.status_code == 502 and "limit is 1024" in response.json()["detail"]
    held = HeldBackUpstream(b"x" * 1000, b"y" * 1000)
    held.release.set()
    try:
        with running_gateway([file], {}, base_uris={"photos": held.url}) as gw:
            # No declared length: the answer has started when the limit is passed, so it is cut short.
            with pytest.raises(httpx.HTTPError):
                httpx.get(gw.url(8080) + "/photos/1/image", timeout=15).raise_for_status()
    finally:
        held.close()


def test_bad_max_binary_size_is_a_load_error(tmp_path):
    from naftiko_runtime import Settings, load

    loaded = load([capability(tmp_path, "\n              maxBinarySize: 5MB")], Settings(), {})
    assert loaded.rejected and any("maxBinarySize '5MB'" in str(d) for d in loaded.diagnostics)


@settings(max_examples=200, deadline=None)
@given(
    before=st.binary(max_size=40),
    after=st.binary(max_size=40),
    cuts=st.lists(st.integers(min_value=0, max_value=120), max_size=6),
)
def test_redaction_across_chunks_equals_redaction_of_the_whole(before, after, cuts):
    """D56 on a streamed body: a secret split between chunks is still replaced."""
    forms = secret_forms(["sk-live-SECRET", "short-key"])
    body = before + b"sk-live-SECRET" + after + b"short-key"
    points = sorted({min(c, len(body)) for c in cuts} | {0, len(body)})
    chunks = [body[a:b] for a, b in zip(points, points[1:], strict=False)]

    async def source():
        for chunk in chunks:
            yield chunk

    async def collect():
        return b"".join([c async for c in redact_stream(source(), forms)])

    assert asyncio.run(collect()) == redact_bytes(body, forms)


def test_binary_calls_are_observed_like_every_other(tmp_path, upstream):
    """A streamed upstream call reaches the control adapter's metrics as a whole one does: the
    failing exchange counts as an upstream exchange of its namespace answered 503."""
    control = tmp_path / "control.yaml"
    control.write_text(
        "naftiko: 1.0.0-alpha2\ninfo: {label: Control, description: Metrics.}\n"
        "capability:\n  consumes: []\n  exposes:\n  - {type: control, port: 7070}\n"
    )
    with running_gateway([capability(tmp_path), control], {}, base_uris={"photos": upstream.url}) as gw:
        upstream.reset(lambda r: Canned(200, PNG, {"Content-Type": "image/png"}))
        assert httpx.get(gw.url(8080) + "/photos/7/image").content == PNG
        upstream.reset(lambda r: Canned(503, b"{}"))
        assert httpx.get(gw.url(8080) + "/photos/7/image").status_code == 503
        text = httpx.get(gw.url(7070) + "/metrics").text
    failed = 'http_response_status_code="503",naftiko_namespace="photos",server_address="127.0.0.1"'
    assert f'naftiko_http_client_total{{http_request_method="GET",{failed}}} 1.0' in text
    rest = 'naftiko_adapter_type="rest",naftiko_namespace="photos-rest",naftiko_operation_id="GET /photos/{{id}}/image"'
    assert f'naftiko_request_total{{{rest},status="200"}} 1.0' in text
