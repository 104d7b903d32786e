"""Issue 20: the tiers keep their promises. A test under tests/unit that opens a socket or starts a
process fails, even when the code under test swallows the refusal or a thread it started does it;
one that stays in-process (asyncio's self-pipe included) passes, and so does one during which a
thread from before it (an earlier test's server, under xdist) opens a socket; every test carries
its tier's marker."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

ATTEMPTS = """
import asyncio
import os
import socket
import subprocess
import threading


def test_connects():
    socket.create_connection(("127.0.0.1", 9), timeout=0.1)


def test_swallows_the_refusal():
    try:
        socket.socket()
    except Exception:
        pass


def test_runs_a_process():
    subprocess.run(["true"], check=True)


def test_runs_a_shell():
    os.system("true")


async def test_stays_in_process():
    assert await asyncio.sleep(0, "answered") == "answered"


def _open_a_socket(go, opened):
    go.wait()
    opened.append(socket.socket())
    opened[-1].close()


def test_a_thread_the_test_starts_is_held_to_the_promise():
    go, opened = threading.Event(), []
    go.set()
    thread = threading.Thread(target=_open_a_socket, args=(go, opened))
    thread.start()
    thread.join(5)
"""


def test_a_unit_test_opening_a_socket_or_a_process_fails(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(Path(__file__).with_name("conftest.py").read_text(encoding="utf-8"))
    pytester.makepyfile(test_attempts=ATTEMPTS)
    # As the suite's own options: schemathesis's plugin stays unloaded (pyproject), else its first
    # import would happen here, under the guard, and probe an IPv6 socket.
    result = pytester.runpytest_inprocess(
        "-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function", "-p", "no:schemathesis"
    )
    result.assert_outcomes(passed=1, failed=5)
    result.stdout.fnmatch_lines(["*this one tried socket.socket(*", "*this one tried subprocess.Popen*"])
    result.stdout.fnmatch_lines(["*this one tried os.system*"])


def _open_a_socket(go: threading.Event, opened: list[socket.socket]) -> None:
    go.wait()
    opened.append(socket.socket())
    opened[-1].close()


EARLIER_GO, EARLIER_OPENED = threading.Event(), []
EARLIER = threading.Thread(target=_open_a_socket, args=(EARLIER_GO, EARLIER_OPENED), daemon=True)
EARLIER.start()  # at collection, before any test's guard: as an earlier test's server thread would be


def test_a_thread_from_before_the_test_may_open_a_socket() -> None:
    EARLIER_GO.set()
    EARLIER.join(5)
    assert len(EARLIER_OPENED) == 1


def test_each_test_carries_its_tier_marker(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("unit") is not None
    assert request.node.get_closest_marker("integration") is None
