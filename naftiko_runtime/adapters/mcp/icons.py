"""``x-naftiko-icons``: MCP's ``icons`` for the server (from ``info``) and for each tool (D111).

The official schema has no icons, so the key is an extension: always warned about where it is
written (``--strict`` refuses the file), each icon checked field by field. The shape is MCP's own
``Icon`` (``src``, ``mimeType``, ``sizes``, ``theme``), so a reader who knows MCP guesses it.
Parsed without importing ``mcp``: the endpoint turns each into ``mcp_types.Icon`` when served.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from ...records import dataclass
from ...spec.builder import ModelBuilder
from ...spec.diagnostics import DocPath
from ...spec.extensions import ICONS, ICONS_INSTEAD, not_official

ICON_FIELDS = ("src", "mimeType", "sizes", "theme")
Theme = Literal["light", "dark"]
THEMES: dict[str, Theme] = {"light": "light", "dark": "dark"}
SOURCE = re.compile(r"^(https?://\S+|data:[^,]*,\S*)$")
"""MCP allows ``http(s):`` and ``data:`` URIs: anything else a client would have to refuse."""
SIZE = re.compile(r"^(\d+x\d+|any)$")


@dataclass(frozen=True)
class IconSpec:
    src: str
    mime_type: str | None = None
    sizes: tuple[str, ...] | None = None
    theme: Theme | None = None


def parse_icons(builder: ModelBuilder, node: dict[str, Any], at: DocPath, *, warn: bool = True) -> tuple[IconSpec, ...]:
    """The icons ``node`` declares under ``x-naftiko-icons``, none when it declares none; ``warn``
    is false for ``info``, whose key the builder warns about for every file."""
    if ICONS not in node:
        return ()
    at = at + (ICONS,)
    if warn:
        builder.warning(at, not_official(ICONS, ICONS_INSTEAD))
    icons = []
    for index, item in enumerate(builder.sequence(node[ICONS], at, f"'{ICONS}'")):
        icon = _icon(builder, builder.mapping(item, at + (index,), "an icon"), at + (index,))
        if icon is not None:
            icons.append(icon)
    return tuple(icons)


def _icon(builder: ModelBuilder, node: dict[str, Any], at: DocPath) -> IconSpec | None:
    for key in node:
        if key not in ICON_FIELDS:
            builder.error(at + (str(key),), f"unknown key '{key}' in an icon; allowed: {', '.join(ICON_FIELDS)}")
    src = builder.text(node, "src", at, required=True)
    if src is not None and not SOURCE.match(src):
        builder.error(at + ("src",), f"icon src '{src[:80]}' must be an http(s): or data: URI (MCP's rule)")
        src = None
    theme = builder.text(node, "theme", at)
    if theme is not None and theme not in THEMES:
        builder.error(at + ("theme",), f"icon theme must be one of {', '.join(THEMES)}, got '{theme}'")
    sizes = None
    if "sizes" in node:
        sizes = tuple(str(size) for size in builder.sequence(node["sizes"], at + ("sizes",), "'sizes'"))
        for index, size in enumerate(sizes):
            if not SIZE.match(size):
                builder.error(at + ("sizes", index), f"icon size '{size}' must be WxH (such as 48x48) or 'any'")
    if src is None:
        return None
    return IconSpec(src, builder.text(node, "mimeType", at), sizes, THEMES.get(theme or ""))
