"""Issue 22, item 1 (CONTRACT D98): three `naftiko serve --config` instances sharing a real `redis-server`
(`state = "redis://..."`), behind a real haproxy, against a real loopback upstream and token
endpoint.

- A 20/s limit per key holds fleet-wide (within 5% over 10 s), with every instance admitting some.
- A breaker opened by one instance is open on all within a second; after the open period exactly
  one instance probes, and its success closes the circuit everywhere.
- One token fetch serves the fleet; the store never holds a token or the secret in clear.
- The store killed mid-run: calls keep succeeding (fail open), each instance logs the outage once
  and counts it on /metrics; restarted, limits apply again and each instance logs the recovery.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis
from redis_support import needs_redis, redis_server
from support import ROOT, Canned, Recorded, free_port_offset
from test_consumed_oauth2 import TokenEndpoint
from test_scale_out import haproxy_config as scale_out_config
from test_serve_process import wait_listening

from naftiko_runtime.conformance.drivers import free_port

HAPROXY = shutil.which("haproxy")
pytestmark = [
    pytest.mark.slow,
    needs_redis,
    pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed (Debian: apt-get install haproxy)"),
]
NAMES = ("a", "b", "c")
SECRET = "fleet-client-s3cret"
RATE, WINDOW = 20, 10.0
OPEN_FOR = 3.0

CAPABILITY = """\
naftiko: 1.0.0-alpha2
info: {label: Fleet, description: One API served by a fleet that shares its state.}
capability:
  consumes:
  - type: http
    namespace: api
    baseUri: http://127.0.0.1:1
    resources: [{name: a, path: /a, operations: [{name: get, method: GET}]}]
  - type: http
    namespace: billing
    baseUri: http://127.0.0.1:1
    resources: [{name: invoices, path: /invoices, operations: [{name: list, method: GET}]}]
  exposes:
  - type: rest
    namespace: fleet-rest
    port: 8080
    resources:
    - {path: /a, operations: [{method: GET, call: api.get}]}
    - {path: /invoices, operations: [{method: GET, call: billing.list}]}
  - type: control
    port: 7070
"""
CONFIG = """\
state = "{state}"

[rate_limit]
requests = {rate}
period = 1
identity = "api-key"

[namespaces.api.breaker]
failures = 3
window = 10
open_for = {open_for}

[namespaces.billing.oauth2_client_credentials]
token_url = "{token_url}"
client_id = "fleet"
client_secret_env = "FLEET_CLIENT_SECRET"
"""


@dataclass
class Instance:
    name: str
    process: subprocess.Popen[bytes]
    offset: int
    stderr_path: Path

    def url(self, port: int) -> str:
        return f"http://127.0.0.1:{port + self.offset}"

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


@dataclass
class Fleet:
    instances: list[Instance]
    url: str
    store: object
    tokens: TokenEndpoint


def wait_answering(instance: Instance, port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert instance.process.poll() is None, instance.stderr
        try:
            httpx.get(instance.url(port) + "/", timeout=2)
            return
        except httpx.HTTPError:
            assert time.monotonic() < deadline, "an instance never answered"
            time.sleep(0.1)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, upstream) -> Iterator[Fleet]:
    directory = tmp_path_factory.mktemp("fleet")
    capability = directory / "fleet.yml"
    capability.write_text(CAPABILITY)
    instances: list[Instance] = []
    haproxy = None
    with redis_server(directory) as store, TokenEndpoint() as tokens:
        config = directory / "naftiko.toml"
        config.write_text(
            CONFIG.format(state=store.url, rate=RATE, open_for=OPEN_FOR, token_url=tokens.url + "/oauth/token")
        )
        environment = {k: v for k, v in os.environ.items() if not k.startswith("NAFTIKO_")}
        environment["FLEET_CLIENT_SECRET"] = SECRET
        try:
            for name in NAMES:
                offset = free_port_offset(8080, 7070)
                stderr_path = directory / f"{name}.stderr"
                arguments = [sys.executable, "-m", "naftiko_runtime", "serve", str(capability)]
                arguments += ["--config", str(config), "--port-offset", str(offset)]
                arguments += [f"--base-uri=api={upstream.url}/{name}", f"--base-uri=billing={upstream.url}/{name}"]
                with stderr_path.open("wb") as stderr:
                    process = subprocess.Popen(arguments, cwd=ROOT, env=environment, stderr=stderr)
                instances.append(Instance(name, process, offset, stderr_path))
            for instance in instances:
                wait_answering(instance, 8080)
                wait_answering(instance, 7070)
            port = free_port()
            haproxy_config = directory / "haproxy.cfg"  # test_scale_out's, whose MCP backend stays unused
            haproxy_config.write_text(scale_out_config(port, free_port(), {i.name: i.offset for i in instances}))
            haproxy = subprocess.Popen([HAPROXY, "-db", "-f", str(haproxy_config)], stdout=subprocess.DEVNULL)
            wait_listening(haproxy, port)
            wait_balanced(f"http://127.0.0.1:{port}")
            yield Fleet(instances, f"http://127.0.0.1:{port}", store, tokens)
        finally:
            for process in [*(i.process for i in instances), haproxy]:
                if process is not None and process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                    try:
                        process.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()


def wait_balanced(url: str) -> None:
    """haproxy answers 503 until its first health checks pass: wait for the instances' answers (404,
    or 429 when haproxy's checks spent the shared bucket of their address)."""
    deadline, answered = time.monotonic() + 30, 0
    while answered < 6:
        assert time.monotonic() < deadline, "haproxy never saw the instances up"
        answered = answered + 1 if httpx.get(url + "/", timeout=10).status_code in (404, 429) else 0
        time.sleep(0.1)


def instance_of(request: Recorded) -> str:
    return request.path.split("/")[1]


def stored_values(client: redis.Redis, key: bytes) -> list[bytes]:
    """Every byte string the store holds under ``key`` (DUMP would compress long ones). A key that
    expired between the scan and this read (a rate-limit bucket's TTL) holds nothing."""
    kind = client.type(key)
    if kind == b"none":
        return []
    if kind == b"string":
        return [client.get(key) or b""]
    if kind == b"hash":
        return [item for pair in client.hgetall(key).items() for item in pair]
    raise AssertionError(f"unexpected {kind!r} at {key!r}")


def test_one_token_fetch_serves_the_fleet_and_the_store_holds_no_token_in_clear(fleet, upstream):
    answers = [
        httpx.get(instance.url(8080) + "/invoices", headers={"X-API-Key": f"token-{n}-{instance.name}"}, timeout=10)
        for n in range(3)
        for instance in fleet.instances
    ]
    assert [a.status_code for a in answers] == [200] * 9, [a.text for a in answers]
    assert len(fleet.tokens.requests) == 1
    assert {instance_of(r) for r in upstream.requests} == set(NAMES)
    assert {r.headers["authorization"] for r in upstream.requests} == {"Bearer tok-1"}
    client = redis.Redis.from_url(fleet.store.url)
    try:
        values = [value for key in client.keys("*") for value in stored_values(client, key)]
    finally:
        client.close()
    assert values and not any(b"tok-1" in value or SECRET.encode() in value for value in values)
    for instance in fleet.instances:
        assert "tok-1" not in instance.stderr and SECRET not in instance.stderr


async def test_a_limit_per_key_holds_fleet_wide(fleet, upstream, record_property):
    """20 calls a second for one key, whichever instance haproxy hands each call to: the fleet
    admits one bucket's worth, ``burst + rate * T``, within 5%, and every instance admitted some
    (in-process, each instance would admit its own, three times as many). Over the 10 s after the
    first second, that is 200 calls.

    ``T`` is the bucket's life in the store, which the client only brackets (as D91's test does):
    the bucket is made between the first call sent and the first answer, and the last call is
    counted between the last call sent and the last answer. On a quiet machine the bracket is tens
    of milliseconds wide; on a loaded one a slow first or last answer no longer reads as tokens the
    fleet withheld or gave away (seen once under two callgrind runs)."""
    calls: list[tuple[float, float, int]] = []
    stop = time.monotonic() + 1.0 + WINDOW + 0.5

    async def caller(client: httpx.AsyncClient) -> None:
        while (sent := time.monotonic()) < stop:
            response = await client.get("/a")
            calls.append((sent, time.monotonic(), response.status_code))
            await asyncio.sleep(0.01)

    headers = {"X-API-Key": "one-key-for-the-fleet"}
    async with httpx.AsyncClient(base_url=fleet.url, headers=headers, timeout=10) as client:
        started = time.monotonic()
        await asyncio.gather(*(caller(client) for _ in range(6)))
    statuses = [status for _, _, status in calls]
    admitted = statuses.count(200)
    shortest = max(sent for sent, _, _ in calls) - min(answered for _, answered, _ in calls)
    longest = max(answered for _, answered, _ in calls) - min(sent for sent, _, _ in calls)
    fewest, most = RATE + RATE * shortest, RATE + RATE * longest  # burst = requests: a full bucket first
    in_window = [status for sent, _, status in calls if started + 1.0 <= sent < started + 1.0 + WINDOW]
    by_instance = {name: sum(instance_of(r) == name for r in upstream.requests) for name in NAMES}
    report = {
        "calls": len(calls),
        "admitted": admitted,
        "bucket allows": f"{fewest:.0f}-{most:.0f}",
        "admitted in the 10 s after the first": in_window.count(200),
        "by_instance": by_instance,
    }
    record_property("fleet_rate_limit", report)
    print("\nfleet rate limit:", report)
    assert set(statuses) <= {200, 429}
    assert len(in_window) > 3 * RATE * WINDOW, "the load did not exceed the limit enough to test it"
    assert 0.95 * fewest <= admitted <= 1.05 * most, report
    assert all(count > 0 for count in by_instance.values()), report


def circuit_open(response: httpx.Response) -> bool:
    return response.status_code == 503 and "circuit" in response.text


async def test_a_breaker_opened_by_one_instance_is_open_on_all_within_a_second(fleet, upstream, record_property):
    a, *others = fleet.instances
    upstream.reset(lambda request: Canned(500, b"{}") if instance_of(request) == "a" else Canned(200, b"{}"))
    keys = iter(range(1_000_000))

    async def call(client: httpx.AsyncClient, instance: Instance) -> httpx.Response:
        return await client.get(instance.url(8080) + "/a", headers={"X-API-Key": f"breaker-{next(keys)}"})

    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(10):
            if circuit_open(await call(client, a)):
                break
        else:
            pytest.fail("instance a's breaker never opened")
        opened = time.monotonic()
        followed: dict[str, float] = {}
        while len(followed) < len(others) and time.monotonic() - opened < 3:
            for instance in others:
                if instance.name not in followed and circuit_open(await call(client, instance)):
                    followed[instance.name] = round(time.monotonic() - opened, 3)
            await asyncio.sleep(0.02)
        record_property("breaker_followed_after_s", followed)
        print("\nbreaker open on the others after (s):", followed)
        assert set(followed) == {"b", "c"} and max(followed.values()) < 1.0, followed

        # The open period over (and a poll later), one instance holds the probe lease: a call to
        # each instance at once reaches the (now healthy, slow) upstream exactly once.
        upstream.reset(lambda request: Canned(200, b"{}", delay=0.8))
        await asyncio.sleep(max(0.0, opened + OPEN_FOR + 0.7 - time.monotonic()))
        answers = await asyncio.gather(*(call(client, instance) for instance in fleet.instances))
        assert len(upstream.requests) == 1, [r.path for r in upstream.requests]
        assert sorted(a.status_code for a in answers) == [200, 503, 503], [a.text for a in answers]
        await asyncio.sleep(0.6)  # the others see the probe's success in the store
        answers = await asyncio.gather(*(call(client, instance) for instance in fleet.instances))
        assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]


def scrape(instance: Instance) -> str:
    return httpx.get(instance.url(7070) + "/metrics", timeout=10).text


def metric(text: str, name: str) -> float:
    [line] = [line for line in text.splitlines() if line.startswith(name + "{")]
    return float(line.rsplit(" ", 1)[1])


async def test_the_store_down_calls_fail_open_and_limits_return_with_it(fleet, upstream, record_property):
    headers = {"X-API-Key": "outage-key"}
    async with httpx.AsyncClient(base_url=fleet.url, headers=headers, timeout=10) as client:
        spans: list[float] = []

        async def burst(seconds: float) -> list[int]:
            """Each call's status; ``spans`` gets the burst's life, first call sent to last answer."""
            statuses: list[int] = []
            started = time.monotonic()
            stop = started + seconds

            async def caller() -> None:
                while time.monotonic() < stop:
                    statuses.append((await client.get("/a")).status_code)
                    await asyncio.sleep(0.01)

            await asyncio.gather(*(caller() for _ in range(4)))
            spans.append(time.monotonic() - started)
            return statuses

        before = await burst(1.0)
        assert 429 in before
        fleet.store.stop()
        during = await burst(2.0)
        texts = [scrape(instance) for instance in fleet.instances]
        fleet.store.start()  # the same port, empty
        await asyncio.sleep(1.5)  # each instance's watch sees it back
        after = await burst(1.5)

    report = {"before": len(before), "during": len(during), "during_429": during.count(429), "after": len(after)}
    report["after_429"] = after.count(429)
    record_property("store_outage", report)
    print("\nstore outage:", report)
    # Calls caught by the kill while they were talking to the store are admitted too: nothing but 200.
    assert set(during) == {200} and len(during) > 50, report
    # The returned store is empty: one full bucket, then the rate, over the burst's life (D91's 5%).
    report["after_admitted_at_most"] = most = (RATE + RATE * spans[-1]) * 1.05
    assert 429 in after and after.count(200) <= most, report
    for instance, text in zip(fleet.instances, texts, strict=True):
        assert metric(text, "naftiko_state_store_up") == 0.0
        assert metric(text, "naftiko_state_store_outages_total") == 1.0
        assert metric(text, "naftiko_rate_limit_fail_open_total") > 0
        stderr = instance.stderr
        assert stderr.count("unreachable") == 1, stderr
        assert stderr.count("reachable again") == 1, stderr
        assert "6379" not in stderr or "redis://" in stderr
