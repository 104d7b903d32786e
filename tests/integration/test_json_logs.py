"""``--log-format json`` (issue 13, item 6): every line on stderr is one JSON object, each answered
request has its line (adapter, operation, status, duration), and secrets stay redacted at DEBUG."""

from __future__ import annotations

import json
import signal

import httpx
from support import API_KEY, CAPABILITIES
from test_serve_process import start, wait_listening

NAMESPACES = ("polytomic-subpackage-modelsync", "polytomic-subpackage-bulksync")


def test_json_lines_with_request_fields_and_no_secret(upstream):
    base_uris = [arg for ns in NAMESPACES for arg in ("--base-uri", f"{ns}={upstream.url}")]
    process, offset = start(
        "--log-format", "json", "--log-level", "DEBUG", *base_uris, *map(str, CAPABILITIES),
        env={"POLYTOMIC_API_KEY": API_KEY},
    )  # fmt: skip
    try:
        wait_listening(process, 8080 + offset)
        assert httpx.get(f"http://127.0.0.1:{8080 + offset}/v1/api/syncs", timeout=10).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{8080 + offset}/v1/api/syncs/x%2Fy", timeout=10).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert API_KEY not in stderr
    records = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert all({"timestamp", "level", "logger", "message"} <= record.keys() for record in records)
    answered = [r for r in records if "status" in r]
    assert [(r["adapter"], r["operation"], r["status"]) for r in answered] == [
        ("polytomic-subpackage-modelsync-rest", "GET /v1/api/syncs", 200),
        ("polytomic-subpackage-modelsync-rest", "GET /v1/api/syncs/{id}", 200),
    ]
    assert all(isinstance(r["duration_ms"], float) for r in answered)
