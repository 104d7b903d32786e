"""Running one case against a driver: the stub upstream, the runtime, the requests, the checks."""

from __future__ import annotations

import json
import re
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ..core.client_tls import shared_tls_context
from . import tokens
from .cases import Case, CaseError, Prepared, prepare, substitute, validate_case_shape, write_files
from .drivers import ServeFailed, free_port
from .match import base64_body, check_body, compare, compare_headers, show
from .stub import StubUpstream, check_step, describe_received

PASS, FAIL, NOT_IMPLEMENTED, ERROR = "PASS", "FAIL", "NOT-IMPLEMENTED", "ERROR"
MCP_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-06-18",
}


@dataclass
class Result:
    case: Case
    status: str
    messages: list[str] = field(default_factory=list)
    duration: float = 0.0
    missing: list[str] = field(default_factory=list)


def run_case(case: Case, driver: Any, keep: bool = False) -> Result:
    started = time.monotonic()
    try:
        validate_case_shape(case)  # a malformed case is an ERROR even when its features are missing
    except CaseError as exc:
        return Result(case, ERROR, [f"case error: {exc}"], 0.0)
    missing = [f for f in case.features if f not in driver.implemented]
    if missing:
        return Result(case, NOT_IMPLEMENTED, [f"needs {', '.join(missing)}"], 0.0, missing)
    directory = Path(tempfile.mkdtemp(prefix="naftiko-conformance-"))
    try:
        if case.kind == "validate":
            problems = _run_validate(case, driver, directory)
        else:
            problems = _run_serve(case, driver, directory)
        status = FAIL if problems else PASS
    except CaseError as exc:
        status, problems = ERROR, [f"case error: {exc}"]
    except Exception as exc:  # the runner or the runtime crashed: never a pass
        status, problems = ERROR, [f"{type(exc).__name__}: {exc}"]
    finally:
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)
    return Result(case, status, problems, time.monotonic() - started)


def _env(case: Case, substitutions: dict[str, str]) -> dict[str, str]:
    return {
        str(k): substitute(str(v if not isinstance(v, bool) else str(v).lower()), substitutions)
        for k, v in (case.data.get("env") or {}).items()
    }


# --- validation cases --------------------------------------------------------------------------------


def _run_validate(case: Case, driver: Any, directory: Path) -> list[str]:
    spec = case.data["validate"] or {}
    substitutions = {"dir": str(directory)}
    write_files(case, directory, substitutions)
    prepared = prepare(case, directory, None, None)
    code, lines = driver.validate(prepared.files, _env(case, substitutions), {"strict": spec.get("strict", False)})
    problems = []
    output = "\n    ".join(lines) or "(no output)"
    if "exit" in spec and (code != 0) != (spec["exit"] != 0):
        problems.append(f"exit code: expected {spec['exit']}, got {code}")

    def pattern(text: str) -> re.Pattern[str]:
        names = {"file": prepared.files[0], "dir": directory}
        names.update({f"file{n + 1}": f for n, f in enumerate(prepared.files)})
        return re.compile(
            re.sub(
                r"\{(file\d*|dir)\}",
                lambda m: re.escape(str(names[m.group(1)])) if m.group(1) in names else m.group(0),
                text,
            )
        )

    diagnostic_lines = [line for line in lines if re.search(r":\d+:\d+: (error|warning): ", line)]
    for expected in spec.get("diagnostics") or []:
        regex = pattern(expected)
        if not any(regex.search(line) for line in lines):
            problems.append(f"no diagnostic matches /{expected}/")
    for unwanted in spec.get("absent") or []:
        regex = pattern(unwanted)
        hits = [line for line in lines if regex.search(line)]
        if hits:
            problems.append(f"unexpected diagnostic /{unwanted}/: {hits[0]}")
    for severity in ("errors", "warnings"):
        if severity in spec:
            count = sum(1 for line in diagnostic_lines if f": {severity[:-1]}: " in line)
            if count != spec[severity]:
                problems.append(f"{severity}: expected {spec[severity]}, got {count}")
    if problems:
        problems.append(f"output was:\n    {output}")
    return problems


# --- serving cases -----------------------------------------------------------------------------------


def _closed_port_url() -> str:
    with socket.socket() as sock:  # bound then closed: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _run_serve(case: Case, driver: Any, directory: Path) -> list[str]:
    with StubUpstream() as stub:
        target = _closed_port_url() if case.data.get("upstream_down") else stub.url
        prepared = prepare(case, directory, target, lambda original: free_port())
        substitutions = {"stub": stub.url, "stub_host": stub.url.split("://", 1)[1], "dir": str(directory)}
        substitutions.update({f"port:{o}": str(n) for o, n in prepared.ports.items()})
        write_files(case, directory, substitutions, prepared.imported)
        env = _env(case, substitutions)
        options = dict(case.data.get("serve_options") or {})
        stub.expect([])
        if case.data.get("serve_fails"):
            try:
                with driver.serve(prepared.files, env, options, list(prepared.ports.values())):
                    return ["the runtime served the capability; expected it to refuse (D5)"]
            except ServeFailed:
                still_bound = [p for p in prepared.ports.values() if _port_open(p)]
                return [f"ports bound after a refused serve: {still_bound}"] if still_bound else []
        try:
            with driver.serve(prepared.files, env, options, list(prepared.ports.values())):
                problems = []
                with httpx.Client(timeout=30, follow_redirects=False, verify=shared_tls_context()) as client:
                    for n, step in enumerate(case.steps):
                        label = f"step {n + 1}: " if len(case.steps) > 1 else ""
                        problems += [label + p for p in _run_step(step, client, stub, prepared, n)]
                return problems
        except ServeFailed as exc:
            return ["the runtime refused to serve:\n    " + exc.output.strip().replace("\n", "\n    ")]


def _port_open(port: int) -> bool:
    from .drivers import port_open

    return port_open(port)


def _url(prepared: Prepared, port: int | None, default: int | None, path: str) -> str:
    original = port if port is not None else default
    if original is None:
        raise CaseError("no port: the capability exposes no adapter of that kind; give `port:`")
    actual = prepared.ports.get(original)
    if actual is None:
        raise CaseError(f"port {original} is not exposed by the capability")
    return f"http://127.0.0.1:{actual}{path}"


_mcp_ids = iter(range(1, 1 << 30))


def _run_step(
    step: dict[str, Any], client: httpx.Client, stub: StubUpstream, prepared: Prepared, index: int
) -> list[str]:
    exchanges = step.get("upstream") or []
    record = stub.expect(exchanges)
    expect = step.get("expect") or {}
    if "request" in step:
        spec = step["request"]
        kwargs: dict[str, Any] = {"headers": {str(k): str(v) for k, v in (spec.get("headers") or {}).items()}}
        if "query" in spec:
            kwargs["params"] = [(k, v2) for k, v in spec["query"].items() for v2 in (v if isinstance(v, list) else [v])]
            kwargs["params"] = [
                (k, "true" if v is True else "false" if v is False else str(v)) for k, v in kwargs["params"]
            ]
        if "json" in spec:
            kwargs["content"] = json.dumps(spec["json"]).encode()
            kwargs["headers"].setdefault("Content-Type", "application/json")
        elif "text" in spec:
            kwargs["content"] = str(spec["text"]).encode()
        elif "form" in spec:
            kwargs["data"] = spec["form"]
        elif "base64" in spec:
            kwargs["content"] = base64_body(spec["base64"])
        elif "bytes" in spec:
            kwargs["content"] = b"x" * int(spec["bytes"])
            kwargs["headers"].setdefault("Content-Type", "application/json")
        if "token" in spec:
            kwargs["headers"]["Authorization"] = "Bearer " + tokens.token(spec["token"], stub.url)
        if "digest" in spec:
            kwargs["auth"] = httpx.DigestAuth(str(spec["digest"]["username"]), str(spec["digest"]["password"]))
        url = _url(prepared, spec.get("port"), prepared.default_rest_port, spec.get("path", "/"))
        label = f"{str(spec.get('method', 'GET')).upper()} {spec.get('path', '/')}"
        response = _send(client, str(spec.get("method", "GET")).upper(), url, kwargs)
        mcp = False
    else:
        spec = step["mcp"]
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": spec.get("method", "tools/list")}
        if "params" in spec:
            message["params"] = spec["params"]
        if not spec.get("notification"):
            message["id"] = spec.get("id", next(_mcp_ids))
        path = spec.get("path") or ("/mcp/" + spec["namespace"] if spec.get("namespace") else "/mcp")
        headers = dict(MCP_HEADERS)
        headers.update({str(k): str(v) for k, v in (spec.get("headers") or {}).items()})
        if "token" in spec:
            headers["Authorization"] = "Bearer " + tokens.token(spec["token"], stub.url)
        content = spec["raw"].encode() if "raw" in spec else json.dumps(message).encode()
        url = _url(prepared, spec.get("port"), prepared.default_mcp_port, path)
        label = f"MCP {message['method']}"
        response = _send(client, "POST", url, {"headers": headers, "content": content})
        mcp = True
    problems = []
    if isinstance(response, str):
        problems.append(f"{label}: no response: {response}")
    else:
        problems += _check_response(expect, response, label, mcp)
    time.sleep(0.01)  # let the stub's handler thread finish its bookkeeping
    upstream_problems = check_step(record)
    if upstream_problems:
        upstream_problems.append(f"upstream received: {describe_received(record)}")
    return problems + upstream_problems


def _send(client: httpx.Client, method: str, url: str, kwargs: dict[str, Any]) -> httpx.Response | str:
    try:
        return client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"


def _body_of(response: httpx.Response, mcp: bool) -> bytes:
    """For MCP, an SSE answer is reduced to its last JSON-RPC message."""
    body = response.content
    if mcp and "text/event-stream" in response.headers.get("content-type", ""):
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        return data[-1].encode() if data else b""
    return body


def _check_response(expect: dict[str, Any], response: httpx.Response, label: str, mcp: bool) -> list[str]:
    problems = []
    body = _body_of(response, mcp)
    content_type = response.headers.get("content-type", "")
    if "status" in expect:
        problems += compare(expect["status"], response.status_code, f"{label} status")
    if expect.get("problem"):
        problems += compare({"$regex": r"^application/problem\+json"}, content_type, f"{label} Content-Type")
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        problems += compare(response.status_code, (document or {}).get("status"), f"{label} problem status")
        if isinstance(expect["problem"], dict):
            problems += compare(expect["problem"], document, f"{label} problem", subset=True)
    if "headers" in expect:
        problems += compare_headers(expect["headers"] or {}, dict(response.headers), label)
    problems += check_body(expect, body, content_type, label)
    if "result" in expect or "error" in expect:
        try:
            document = json.loads(body)
        except ValueError:
            problems.append(f"{label}: not a JSON-RPC response: {show(body.decode('utf-8', 'replace'))}")
        else:
            for key in ("result", "error"):
                if key in expect:
                    problems += compare(
                        expect[key],
                        document.get(key) if isinstance(document, dict) else None,
                        f"{label} {key}",
                        subset=True,
                    )
    if problems:
        text = body.decode("utf-8", "replace")
        problems.append(f"{label}: got {response.status_code} {content_type} {show(text[:600])}")
    return problems
