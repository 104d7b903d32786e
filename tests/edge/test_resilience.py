"""Issue 15: resilience policies against a fault-injecting upstream, through ``naftiko serve``.

Retries are counted at the upstream: they happen exactly when allowed (idempotent methods, within
the total timeout, after ``Retry-After``) and never for a POST without an idempotency key. The
breaker opens, half-opens and closes, each change in the log. A full bulkhead answers 503 at once
and leaves the other namespace alone.
"""

from __future__ import annotations

import asyncio
import time

import httpx
from edge_support import REST, Reply, json_reply, served

LIST = "/v1/api/syncs"  # polytomic-subpackage-modelsync.list (GET)
BULK_LIST = "/v1/api/bulk/syncs"  # polytomic-subpackage-bulksync.list (GET)
CANCEL = "/v1/api/bulk/syncs/s1/cancel"  # polytomic-subpackage-bulksync.cancel (POST)


def _status(status: str, retry_after: str | None = None) -> Reply:
    extra = f"Retry-After: {retry_after}\r\n" if retry_after is not None else ""
    return Reply(
        f"HTTP/1.1 {status}\r\n{extra}Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}".encode()
    )


def _count(upstream, fragment: bytes) -> int:
    return sum(seen.target.split(b"?")[0].endswith(fragment) for seen in upstream.seen)


def test_retries_only_where_allowed(tmp_path, raw_upstream):
    raw_upstream.reset(lambda seen: _status("503 Service Unavailable", "0"))
    with served(tmp_path, raw_upstream.url, "--retries", "2", "--timeout", "10") as gateway:
        with httpx.Client(base_url=gateway.url(REST), timeout=15) as client:
            got = client.get(LIST)
            assert got.status_code == 503
            assert _count(raw_upstream, b"/api/syncs") == 3, "a GET is tried once and retried twice"
            posted = client.post(CANCEL, json={})
            assert posted.status_code == 503
            assert _count(raw_upstream, b"/cancel") == 1, "a POST without an idempotency key is never retried"


def test_retry_after_is_honoured_within_the_total_timeout(tmp_path, raw_upstream):
    answers = iter([_status("503 Service Unavailable", "1"), json_reply()])
    raw_upstream.reset(lambda seen: next(answers, json_reply()))
    with served(tmp_path, raw_upstream.url, "--retries", "3", "--timeout", "10") as gateway:
        started = time.monotonic()
        got = httpx.get(gateway.url(REST) + LIST, timeout=15)
        waited = time.monotonic() - started
    assert got.status_code == 200
    assert _count(raw_upstream, b"/api/syncs") == 2
    assert waited >= 0.9, "the upstream asked for 1 s"

    raw_upstream.reset(lambda seen: _status("503 Service Unavailable", "30"))
    with served(tmp_path, raw_upstream.url, "--retries", "3", "--timeout", "5") as gateway:
        got = httpx.get(gateway.url(REST) + LIST, timeout=15)
    assert got.status_code == 503 and got.headers["retry-after"] == "30", "beyond the total timeout: passed back"
    assert _count(raw_upstream, b"/api/syncs") == 1


def test_the_breaker_opens_half_opens_and_closes(tmp_path, raw_upstream):
    config = tmp_path / "naftiko.toml"
    config.write_text("[upstream.breaker]\nfailures = 3\nwindow = 10\nopen_for = 1\n")
    raw_upstream.reset(lambda seen: _status("500 Internal Server Error"))
    with served(tmp_path, raw_upstream.url, "--config", str(config)) as gateway:
        with httpx.Client(base_url=gateway.url(REST), timeout=15) as client:
            assert [client.get(LIST).status_code for _ in range(3)] == [500, 500, 500]
            refused = client.get(LIST)
            assert refused.status_code == 503 and "circuit" in refused.json()["detail"]
            assert int(refused.headers["retry-after"]) >= 1
            assert _count(raw_upstream, b"/api/syncs") == 3, "an open circuit does not reach the upstream"
            assert client.get(BULK_LIST).status_code == 500, "each namespace has its own breaker"
            time.sleep(1.2)
            raw_upstream.reset()
            assert client.get(LIST).status_code == 200, "the half-open probe succeeds"
            assert client.get(LIST).status_code == 200
        log = gateway.stderr
    assert "closed -> open" in log and "open -> half-open" in log and "half-open -> closed" in log, log


def test_a_full_bulkhead_answers_503_and_spares_other_namespaces(tmp_path, raw_upstream):
    config = tmp_path / "naftiko.yaml"
    config.write_text(
        "namespaces:\n  polytomic-subpackage-bulksync:\n    bulkhead: {max_concurrent: 4, queue_timeout: 0.5}\n"
    )

    def respond(seen):
        reply = json_reply()
        if b"/bulk/" in seen.target:
            reply.delay = 6.0
        return reply

    raw_upstream.reset(respond)
    with served(tmp_path, raw_upstream.url, "--config", str(config), "--timeout", "20") as gateway:

        async def scenario() -> tuple[list[int], list[int]]:
            async with httpx.AsyncClient(base_url=gateway.url(REST), timeout=15) as client:
                held = [asyncio.create_task(client.get(BULK_LIST)) for _ in range(4)]
                while _count(raw_upstream, b"/api/bulk/syncs") < 4:
                    await asyncio.sleep(0.05)
                extra = await asyncio.gather(*(client.get(BULK_LIST) for _ in range(3)))
                other = await asyncio.gather(*(client.get(LIST) for _ in range(10)))
                for task in held:
                    task.cancel()
                return [r.status_code for r in extra], [r.status_code for r in other]

        extra, other = asyncio.run(scenario())
    assert extra == [503, 503, 503]
    assert other == [200] * 10
    assert _count(raw_upstream, b"/api/bulk/syncs") == 4, "the bulkhead held the fifth call back"
