"""Issue 22, item 1: the shared state's parts on their own. The token bucket script against a real
``redis-server`` (its arithmetic must be ``state.refill``'s, bit for bit); token sealing (a tampered
or foreign value never opens, no token in clear); and the fleet's breakers and tokens on
``LocalStore``, the in-process ``StateStore``, with one clock for every instance."""

from __future__ import annotations

import asyncio
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis_support import needs_redis, redis_server

from naftiko_runtime.core.credentials import TokenGrant
from naftiko_runtime.core.redis_state import RedisStore
from naftiko_runtime.core.resilience import Breaker
from naftiko_runtime.core.shared_breakers import SharedBreakers
from naftiko_runtime.core.shared_tokens import Seal, SharedTokens
from naftiko_runtime.core.state import LocalStore, StoreDown, refill
from naftiko_runtime.settings import BreakerPolicy

GRANT = TokenGrant(
    "billing", "https://auth.example.com/token", (("grant_type", "client_credentials"),), "Basic x", ("s3cret",)
)


# -- the token bucket script ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def redis_runner(tmp_path_factory):
    if needs_redis.args[0]:
        pytest.skip(needs_redis.kwargs["reason"])
    with redis_server(tmp_path_factory.mktemp("redis")) as server, asyncio.Runner() as runner:
        store = runner.run(_store(server.url))
        yield runner, store
        runner.run(store.aclose())


async def _store(url: str) -> RedisStore:
    return RedisStore(url)


calls = st.lists(st.integers(min_value=0, max_value=3_000_000), min_size=1, max_size=40)
"""Microseconds between one call and the next (0: at once)."""


@needs_redis
@settings(max_examples=60, deadline=None)
@given(
    gaps=calls,
    rate=st.floats(min_value=0.01, max_value=1000, allow_nan=False),
    burst=st.integers(min_value=1, max_value=50),
)
def test_the_bucket_script_computes_what_refill_computes(redis_runner, gaps, rate, burst):
    """Every call's verdict and the tokens left equal the Python reference's, exactly: the script's
    floats go through Redis as ``%.17g`` text, which round-trips a double."""
    runner, store = redis_runner
    key = f"prop:{rate!r}:{burst}:{len(gaps)}:{sum(gaps)}"
    runner.run(store.redis.delete("naftiko:rl:" + key))
    now, tokens, at = 1_700_000_000_000_000, float(burst), None
    for gap in gaps:
        now += gap
        expected = refill(tokens, 0.0 if at is None else (now - at) / 1_000_000, rate, float(burst))
        taken = runner.run(store.take_at(key, rate, float(burst), now))
        assert taken == expected
        tokens, at = taken.tokens, now


@needs_redis
def test_the_bucket_admits_burst_then_the_rate_and_expires(redis_runner):
    runner, store = redis_runner
    start = 1_800_000_000_000_000
    verdicts = [runner.run(store.take_at("plain", 20.0, 5.0, start)).allowed for _ in range(7)]
    assert verdicts == [True] * 5 + [False] * 2
    assert runner.run(store.take_at("plain", 20.0, 5.0, start + 50_000)).allowed  # 1/20 s later: one token
    assert not runner.run(store.take_at("plain", 20.0, 5.0, start + 50_000)).allowed
    ttl = runner.run(store.redis.pttl("naftiko:rl:plain"))
    assert 0 < ttl <= 5 / 20 * 1000 + 1000  # an idle bucket (full again) leaves the store


# -- token sealing ------------------------------------------------------------------------------


def test_a_sealed_token_opens_with_its_grant_only():
    seal = Seal.of(GRANT)
    sealed = seal.seal("tok-very-secret", 1_900_000_000.0)
    assert b"tok-very-secret" not in sealed and b"s3cret" not in sealed
    assert seal.open(sealed) == ("tok-very-secret", 1_900_000_000.0)
    assert "s3cret" not in seal.name and seal.name == Seal.of(GRANT).name
    other_secret = Seal.of(TokenGrant(GRANT.namespace, GRANT.token_url, GRANT.form, GRANT.basic, ("other",)))
    assert other_secret.name != seal.name
    assert other_secret.open(sealed) is None
    moved = Seal(other_secret.name, seal.key)  # the same key, under another store key
    assert moved.open(sealed) is None
    assert seal.seal("tok-very-secret", 1.0) != seal.seal("tok-very-secret", 1.0)  # a new nonce each time


@given(position=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_a_tampered_sealed_token_is_refused(position, flip):
    seal = Seal.of(GRANT)
    sealed = bytearray(seal.seal("tok-1", 1_900_000_000.0))
    sealed[position % len(sealed)] ^= flip
    assert seal.open(bytes(sealed)) is None
    assert seal.open(bytes(sealed[:-1])) is None
    assert seal.open(b"") is None


# -- the fleet on LocalStore ---------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


POLICY = BreakerPolicy(failures=2, window=10.0, open_for=5.0, probes=1)


def fleet(store: LocalStore, clock: Clock, n: int) -> list[tuple[Breaker, SharedBreakers]]:
    instances = []
    for _ in range(n):
        breaker, shared = Breaker("billing", POLICY, clock), SharedBreakers(store)
        shared.follow(breaker)
        instances.append((breaker, shared))
    return instances


def refused(breaker: Breaker) -> bool:
    try:
        probe = breaker.admit()
    except Exception:
        return True
    if probe:
        breaker.abandon()
    return False


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_a_breaker_one_instance_opens_opens_everywhere_and_one_instance_probes():
    clock = Clock()
    store = LocalStore(clock)
    (a, fleet_a), (b, fleet_b), (c, fleet_c) = fleet(store, clock, 3)
    for _ in range(2):
        a.record(True, probe=False)
    await settle()  # the opening reaches the store
    assert a.state == "open" and b.state == c.state == "closed"
    await fleet_b.sync()
    await fleet_c.sync()
    assert b.state == c.state == "open" and refused(b) and refused(c)
    assert b.opened == c.opened == 1

    clock.now += POLICY.open_for
    assert all(refused(x) for x in (a, b, c))  # nobody probes before holding the lease
    for shared in (fleet_c, fleet_a, fleet_b):
        await shared.sync()
    assert [x.lease for x in (a, b, c)] == [False, False, True]
    assert c.admit() is True and c.state == "half-open"
    assert refused(a) and refused(b)
    c.record(False, probe=True)  # the probe succeeded
    await settle()
    await fleet_a.sync()
    await fleet_b.sync()
    assert a.state == b.state == c.state == "closed"


async def test_a_failed_probe_opens_the_fleet_again():
    clock = Clock()
    store = LocalStore(clock)
    (a, fleet_a), (b, fleet_b) = fleet(store, clock, 2)
    a.record(True, False)
    a.record(True, False)
    await settle()
    await fleet_b.sync()
    clock.now += POLICY.open_for
    await fleet_a.sync()
    await fleet_b.sync()
    assert a.lease and not b.lease
    assert a.admit() is True
    a.record(True, probe=True)
    await settle()
    clock.now += 1.0
    await fleet_b.sync()
    assert a.state == b.state == "open"
    clock.now += POLICY.open_for - 1.5  # b follows the new opening's period, not the first one's
    assert not b.open_ended() and refused(b)


async def test_without_the_store_each_breaker_probes_on_its_own():
    clock = Clock()
    store = LocalStore(clock)
    [(a, _)] = fleet(store, clock, 1)
    store.health.failed(ConnectionError())
    a.record(True, False)
    a.record(True, False)
    clock.now += POLICY.open_for
    assert a.admit() is True and a.state == "half-open"


class DownStore(LocalStore):
    async def get(self, key: str) -> bytes | None:
        raise StoreDown("down")


async def test_one_token_fetch_serves_the_fleet_and_a_refused_token_is_replaced():
    store = LocalStore()
    fetched: list[str] = []

    async def fetch() -> tuple[str, float]:
        await asyncio.sleep(0.05)
        fetched.append(f"tok-{len(fetched) + 1}")
        return fetched[-1], 300.0

    instances = [SharedTokens(store) for _ in range(3)]
    tokens = await asyncio.gather(*(i.obtain(GRANT, fetch, ()) for i in instances for _ in range(3)))
    assert fetched == ["tok-1"]
    assert {token for token, _ in tokens} == {"tok-1"}
    assert all(0 < usable <= 300 for _, usable in tokens)
    [sealed] = [entry.value for key, entry in store._entries.items() if key.startswith("token:")]
    assert b"tok-1" not in sealed
    again = await instances[1].obtain(GRANT, fetch, ("tok-1",))
    assert again[0] == "tok-2" and fetched == ["tok-1", "tok-2"]
    assert (await instances[2].obtain(GRANT, fetch, ()))[0] == "tok-2"
    assert (await SharedTokens(DownStore()).obtain(GRANT, fetch, ()))[0] == "tok-3"  # store down: fetch alone


# -- choosing the store: --state, $NAFTIKO_STATE, the --config file's state ----------------------


def serve_settings(*arguments: str):
    from naftiko_runtime.cli import parser, settings_from

    return settings_from(parser().parse_args(["serve", "x.yml", *arguments]))


def test_the_command_line_wins_over_the_environment_which_wins_over_the_file(tmp_path, monkeypatch):
    """D93; without any, no store: state stays in each process (D98)."""
    config = tmp_path / "naftiko.toml"
    config.write_text('state = "redis://from-file:6379/1"\n')
    monkeypatch.delenv("NAFTIKO_STATE", raising=False)
    assert serve_settings().state is None  # in-process by default
    assert serve_settings("--config", str(config)).state == "redis://from-file:6379/1"
    monkeypatch.setenv("NAFTIKO_STATE", "redis://from-env:6379/2")
    assert serve_settings("--config", str(config)).state == "redis://from-env:6379/2"
    chosen = serve_settings("--config", str(config), "--state", "rediss://:pw@from-cli:6380/3").state
    assert chosen == "rediss://:pw@from-cli:6380/3"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('state = "http://redis:6379/0"', "must be redis://HOST:PORT/DB"),
        ('state = "redis://redis:6379/cache"', "names database 'cache', which is not a number"),
        ("state = 6379", "must be a redis:// URL string"),
        ('state = "redis:///0"', "names no host"),
    ],
)
def test_a_bad_state_in_the_file_is_positioned(tmp_path, monkeypatch, text, message):
    from naftiko_runtime.serving.config import ConfigError

    monkeypatch.delenv("NAFTIKO_STATE", raising=False)
    config = tmp_path / "naftiko.toml"
    config.write_text(f"# the fleet's store\n{text}\n[rate_limit]\nrequests = 5\n")
    with pytest.raises(ConfigError, match=rf"naftiko.toml:2:1: state: {message}"):
        serve_settings("--config", str(config))


def test_a_bad_state_on_the_command_line_or_in_the_environment_is_refused(monkeypatch, capsys):
    from naftiko_runtime.serving.config import ConfigError

    with pytest.raises(SystemExit):
        serve_settings("--state", "memcached://cache:11211")
    assert "--state: must be redis://HOST:PORT/DB" in capsys.readouterr().err
    monkeypatch.setenv("NAFTIKO_STATE", "redis://:hunter2@redis:0/0")
    with pytest.raises(ConfigError, match=r"\$NAFTIKO_STATE: names port 0") as refused:
        serve_settings()
    assert "hunter2" not in str(refused.value)


def test_the_store_is_named_without_its_password():
    from naftiko_runtime.core.redis_state import shown

    assert shown("redis://:hunter2@cache.internal:6380/4") == "redis://cache.internal:6380/4"
    assert shown("rediss://user:pw@[::1]:6379/0") == "rediss://[::1]:6379/0"


def test_serve_says_which_extra_to_install_when_redis_py_is_missing(monkeypatch, capsys):
    from naftiko_runtime.cli import main

    monkeypatch.delenv("NAFTIKO_STATE", raising=False)
    monkeypatch.setitem(sys.modules, "redis", None)  # as if naftiko-runtime[state] were not installed
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    assert main(["serve", "nothing.yml", "--state", "redis://127.0.0.1:6379/0"]) == 2
    assert "pip install 'naftiko-runtime[state]'" in capsys.readouterr().err
