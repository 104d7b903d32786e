"""The plugin's one entry point: each axis is its own module, registered here."""

from __future__ import annotations

from naftiko_runtime.serving.plugins import Plugins

from .auth import DemoPass, DemoSignature
from .kv_format import KV
from .text_adapter import TextKind
from .upper_step import UpperKind


def register(plugins: Plugins) -> None:
    plugins.step_kind(UpperKind())
    plugins.response_format(KV)
    plugins.consumed_auth(DemoSignature())
    plugins.exposed_auth(DemoPass())
    plugins.adapter_kind(TextKind())
