"""The unit tier's promise, enforced (issue 20): a test under tests/unit runs in-process, so creating
a network socket or starting a process fails it, whatever swallowed the refusal, naming what it
tried. Such a test belongs in tests/integration.

The guard wraps each phase (setup, call, teardown) rather than being an autouse fixture, so that
module- and session-scoped fixtures a unit test asks for are held to the same promise. A socket
built around an existing descriptor stays allowed: asyncio's event loop wakes itself through a
``socket.socketpair()``, which never leaves the process."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest


class OutOfTier(RuntimeError):
    """Raised where a unit test opens a socket or starts a process; the phase fails even if caught."""


def _refusing(attempts: list[str], what: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(what)
        raise OutOfTier(f"{what} in a unit test: move the test to tests/integration")

    return refuse


def _socket_without_descriptor(attempts: list[str]) -> Callable[..., None]:
    original = socket.socket.__init__

    def init(sock: socket.socket, family: int = -1, type: int = -1, proto: int = 0, fileno: Any = None) -> None:
        if fileno is None:
            attempts.append(f"socket.socket(family={family}, type={type})")
            raise OutOfTier("a socket opened in a unit test: move the test to tests/integration")
        original(sock, family, type, proto, fileno)

    return init


@contextmanager
def in_process_only() -> Iterator[None]:
    attempts: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "__init__", _socket_without_descriptor(attempts))
        patch.setattr(subprocess.Popen, "__init__", _refusing(attempts, "subprocess.Popen"))
        for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system"):
            patch.setattr(os, name, _refusing(attempts, f"os.{name}"))
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
