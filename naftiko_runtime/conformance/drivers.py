"""How the runner drives a runtime: in-process (this package's Python API) or black-box (any
runtime, through the command lines that start its server and its validator).

Both get capability files already rewritten by the runner (consumed ``baseUri``s pointing at the
stub, exposed ports moved to free ones), so a driver only has to serve or validate them.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from naftiko_runtime.settings import Settings

SERVE_OPTION_FLAGS = {
    "timeout": "--timeout",
    "read_timeout": "--read-timeout",
    "connect_timeout": "--connect-timeout",
    "max_body_size": "--max-body-size",
}
"""Case ``serve_options`` and the ``naftiko serve`` flags they become in black-box mode."""


class ServeFailed(Exception):
    """The runtime refused to serve (D5); ``output`` is what it said."""

    def __init__(self, output: str, exit_code: int | None = None):
        super().__init__(output)
        self.output = output
        self.exit_code = exit_code


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]  # typeshed types socket addresses as Any
        return port


class InProcessDriver:
    """The ``naftiko_runtime`` in this interpreter: ``load`` then ``Runtime`` in a thread."""

    name = "in-process"

    def __init__(self) -> None:
        from naftiko_runtime.serving.features import IMPLEMENTED

        self.implemented = set(IMPLEMENTED)

    def _settings(self, options: dict[str, Any], strict: bool = False) -> Settings:
        from naftiko_runtime.settings import Settings

        settings = Settings(strict=strict or bool(options.get("strict")))
        if "timeout" in options:
            settings.total_timeout = float(options["timeout"])
            settings.read_timeout = min(settings.read_timeout, settings.total_timeout)
        if "read_timeout" in options:
            settings.read_timeout = float(options["read_timeout"])
        if "connect_timeout" in options:
            settings.connect_timeout = float(options["connect_timeout"])
        if "max_body_size" in options:
            settings.max_request_body = int(options["max_body_size"])
        return settings

    def validate(self, files: list[Path], env: dict[str, str], options: dict[str, Any]) -> tuple[int, list[str]]:
        from naftiko_runtime import load

        loaded = load(files, self._settings(options), dict(env))
        lines = [str(d) for d in loaded.diagnostics]
        invalid = [r for r in loaded.reports if r.errors or r.loaded is None]
        return (1 if invalid else 0), lines

    @contextmanager
    def serve(
        self, files: list[Path], env: dict[str, str], options: dict[str, Any], ports: list[int]
    ) -> Iterator[None]:
        from naftiko_runtime import Runtime, load
        from naftiko_runtime.serving import logs
        from naftiko_runtime.serving.server import bind_sockets

        settings = self._settings(options)
        loaded = load(files, settings, dict(env))
        if loaded.rejected:
            raise ServeFailed("\n".join(str(d) for d in loaded.diagnostics), 1)
        logs.SECRETS.add(loaded.secrets)  # as `naftiko serve` does: secrets scrubbed from logs (D55)
        listeners = list(loaded.listeners.listeners.values())
        try:
            sockets = bind_sockets(listeners)
        except OSError as exc:
            raise ServeFailed(str(exc), 1) from exc
        runtime = Runtime(listeners, settings, sockets)
        failure: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(runtime.serve())
            except BaseException as exc:  # reported below
                failure.append(exc)

        thread = threading.Thread(target=run, daemon=True, name="conformance-runtime")
        thread.start()
        deadline = time.monotonic() + 20
        while not runtime.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                runtime.stop()
                raise ServeFailed(
                    f"the runtime did not start: {failure[0]!r}" if failure else "the runtime did not start"
                )
            time.sleep(0.01)
        try:
            yield
        finally:
            runtime.stop()
            thread.join(timeout=30)


class BlackBoxDriver:
    """Any runtime, as a subprocess: ``--server-command`` and ``--validate-command`` templates.

    ``{capability}`` becomes the capability file(s) (quoted, space-separated), ``{options}`` the
    serve options as ``naftiko serve`` flags (appended at the end when the template lacks it),
    ``{dir}`` the case's temporary folder.
    """

    name = "black-box"

    def __init__(
        self,
        server_command: str | None,
        validate_command: str | None,
        features: set[str],
        startup_timeout: float = 20.0,
    ) -> None:
        self.server_command = server_command
        self.validate_command = validate_command
        self.implemented = set(features)
        self.startup_timeout = startup_timeout

    @staticmethod
    def _command(template: str, files: list[Path], options: dict[str, Any], directory: Path) -> list[str]:
        flags = []
        for key, value in options.items():
            if key == "strict" and value:
                flags.append("--strict")
            elif key in SERVE_OPTION_FLAGS:
                flags += [SERVE_OPTION_FLAGS[key], str(value)]
        text = template.replace("{capability}", " ".join(shlex.quote(str(f)) for f in files))
        text = text.replace("{dir}", shlex.quote(str(directory)))
        if "{options}" in text:
            text = text.replace("{options}", " ".join(shlex.quote(f) for f in flags))
            flags = []
        return shlex.split(text) + flags

    @staticmethod
    def _environment(env: dict[str, str]) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("NAFTIKO_")}
        base.update(env)
        return base

    def validate(self, files: list[Path], env: dict[str, str], options: dict[str, Any]) -> tuple[int, list[str]]:
        if not self.validate_command:
            raise RuntimeError("validation cases need --validate-command in black-box mode")
        command = self._command(self.validate_command, files, {"strict": options.get("strict")}, files[0].parent)
        done = subprocess.run(
            command, capture_output=True, text=True, env=self._environment(env), timeout=60, cwd=files[0].parent
        )
        return done.returncode, (done.stdout + done.stderr).splitlines()

    @contextmanager
    def serve(
        self, files: list[Path], env: dict[str, str], options: dict[str, Any], ports: list[int]
    ) -> Iterator[None]:
        if not self.server_command:
            raise RuntimeError("serving cases need --server-command in black-box mode")
        command = self._command(self.server_command, files, options, files[0].parent)
        log = open(files[0].parent / "server.log", "w+b")
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self._environment(env),
            cwd=files[0].parent,
            start_new_session=True,
        )

        def output() -> str:
            log.flush()
            log.seek(0)
            return log.read().decode("utf-8", "replace")

        try:
            deadline = time.monotonic() + self.startup_timeout
            while not all(port_open(p) for p in ports):
                code = process.poll()
                if code is not None:
                    raise ServeFailed(output(), code)
                if time.monotonic() > deadline:
                    raise ServeFailed(f"ports {ports} not open after {self.startup_timeout}s:\n{output()}")
                time.sleep(0.05)
            yield
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            log.close()
