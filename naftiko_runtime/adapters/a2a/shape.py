"""The ``x-naftiko-a2a`` entry's shape in each dialect (D106, D108): the shape check knows its keys."""

from __future__ import annotations

from ...spec.profiles import Profile
from ...spec.shape_parts import KEBAB, STR, adapter_common
from ...spec.shapes import Kinds, Obj, Shape

SOURCES = "sourceNamespaces"
"""The key naming the MCP adapters an agent serves (``model`` reads it)."""


def a2a_shape(d: Profile) -> Shape:
    return Obj(
        "x-naftiko-a2a adapter",
        {
            **adapter_common(d),
            "namespace": KEBAB,
            "description": STR,
            SOURCES: Kinds(("string", "array")),  # the builder checks each name is a sibling MCP adapter's
        },
        ("type", "port", "namespace", SOURCES),
    )
