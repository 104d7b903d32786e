"""The unit tier's promise, enforced (issue 20): a test under tests/unit runs in-process, so creating
a network socket or starting a process fails it, whatever swallowed the refusal, naming what it
tried. Such a test belongs in tests/integration.

The guard wraps each phase (setup, call, teardown) rather than being an autouse fixture, so that
module- and session-scoped fixtures a unit test asks for are held to the same promise. A socket
built around an existing descriptor stays allowed: asyncio's event loop wakes itself through a
``socket.socketpair()``, which never leaves the process.

Threads that were running before the phase began are not the test's: under xdist an integration
test's server or exporter thread, from earlier on the same worker, may still open a socket while a
unit test runs, and that socket goes through. Threads the test starts are held to the promise."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest


class OutOfTier(RuntimeError):
    """Raised where a unit test opens a socket or starts a process; the phase fails even if caught."""


def _refusing(attempts: list[str], what: str, original: Callable[..., Any], earlier: set[int]) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() in earlier:
            return original(*args, **kwargs)
        attempts.append(what)
        raise OutOfTier(f"{what} in a unit test: move the test to tests/integration")

    return refuse


def _socket_without_descriptor(attempts: list[str], earlier: set[int]) -> Callable[..., None]:
    original = socket.socket.__init__

    def init(sock: socket.socket, family: int = -1, type: int = -1, proto: int = 0, fileno: Any = None) -> None:
        if fileno is None and threading.get_ident() not in earlier:
            attempts.append(f"socket.socket(family={family}, type={type})")
            raise OutOfTier("a socket opened in a unit test: move the test to tests/integration")
        original(sock, family, type, proto, fileno)

    return init


@contextmanager
def in_process_only() -> Iterator[None]:
    attempts: list[str] = []
    earlier = {thread.ident for thread in threading.enumerate() if thread.ident is not None} - {threading.get_ident()}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "__init__", _socket_without_descriptor(attempts, earlier))
        popen = subprocess.Popen.__init__
        patch.setattr(subprocess.Popen, "__init__", _refusing(attempts, "subprocess.Popen", popen, earlier))
        for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system"):
            patch.setattr(os, name, _refusing(attempts, f"os.{name}", getattr(os, name), earlier))
        try:
            yield
        finally:
            if attempts:
                pytest.fail(f"unit tests run in-process; this one tried {', '.join(attempts)}", pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Any:
    with in_process_only():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    with in_process_only():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    with in_process_only():
        return (yield)
