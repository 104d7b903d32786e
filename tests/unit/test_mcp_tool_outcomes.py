"""D152: the MCP tool path writes the ``mcp`` package's forms without importing it, so the package
can load off the start-up's critical path. Each form and rule written in ``adapters/mcp/tools.py``
and ``adapters/mcp/stateless_call.py`` is held here equal to the package's own: a package release
that changes one fails this file, not a user's client."""

from __future__ import annotations

import mcp_types as types
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp.server.streamable_http import check_accept_headers
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp_types import methods as surfaces
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic_core import to_json
from starlette.requests import Request

from naftiko_runtime.adapters.mcp import stateless_call
from naftiko_runtime.adapters.mcp.tools import ToolOutcome, text_outcome

STRUCTURED = {"z": [1, None, "é", 1.5, {"n": True}], "a": 123456789012345678901234567890}
"""Keys out of order, a number no double holds, non-ASCII: the structured value as the upstream gave it."""


def package_wire(result: types.CallToolResult, version: str) -> bytes:
    """The package's wire form of a tool result: its runner's dump, then the version's surface."""
    dumped = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    return to_json(surfaces.serialize_server_result("tools/call", version, dumped))


BLOB = types.BlobResourceContents(uri="naftiko://shop/get-label", mime_type="image/png", blob="iVBORw0=")
FORMS: list[tuple[ToolOutcome, types.CallToolResult]] = [
    (
        text_outcome('{"z":1}', is_error=False, structured=STRUCTURED),
        types.CallToolResult(
            content=[types.TextContent(text='{"z":1}')], structured_content=STRUCTURED, is_error=False
        ),
    ),
    (
        text_outcome("Upstream answered HTTP 503: down", is_error=True),
        types.CallToolResult(content=[types.TextContent(text="Upstream answered HTTP 503: down")], is_error=True),
    ),
    (
        ToolOutcome({"content": [], "isError": False, "structuredContent": {}}),
        types.CallToolResult(content=[], structured_content={}, is_error=False),
    ),
    (ToolOutcome({"content": [], "isError": False}), types.CallToolResult(content=[], is_error=False)),
    (
        ToolOutcome(
            {
                "content": [
                    {
                        "resource": {"blob": "iVBORw0=", "mimeType": "image/png", "uri": "naftiko://shop/get-label"},
                        "type": "resource",
                    }
                ],
                "isError": False,
            }
        ),
        types.CallToolResult(content=[types.EmbeddedResource(type="resource", resource=BLOB)], is_error=False),
    ),
]


@pytest.mark.parametrize("version", HANDSHAKE_PROTOCOL_VERSIONS)
@pytest.mark.parametrize(("mine", "theirs"), FORMS)
def test_each_outcome_is_the_packages_wire_form(mine: ToolOutcome, theirs: types.CallToolResult, version: str) -> None:
    assert to_json(mine.wire) == package_wire(theirs, version)


@pytest.mark.parametrize(("mine", "theirs"), FORMS)
def test_the_packages_path_reads_each_outcome_back_unchanged(mine: ToolOutcome, theirs: types.CallToolResult) -> None:
    """``endpoints`` validates an outcome into the package's model for the package's own path."""
    assert types.CallToolResult.model_validate(mine.wire) == theirs


def test_the_versions_and_header_are_the_packages() -> None:
    assert stateless_call.HANDSHAKE_VERSIONS == HANDSHAKE_PROTOCOL_VERSIONS
    assert stateless_call.UNSTATED_VERSION == types.DEFAULT_NEGOTIATED_VERSION
    assert stateless_call.PROTOCOL_HEADER == MCP_PROTOCOL_VERSION_HEADER.lower().encode()


media = st.sampled_from(
    ["application/json", "APPLICATION/JSON", "text/event-stream", "*/*", "application/*", "text/*", "text/html", ""]
)
parameter = st.sampled_from(["", ";q=0.9", "; charset=utf-8", " ;q=0"])
accept = st.lists(st.tuples(media, parameter, st.sampled_from(["", " ", "  "])), max_size=4).map(
    lambda parts: ",".join(f"{space}{kind}{param}{space}" for kind, param, space in parts)
)


@given(header=st.one_of(accept, st.text(max_size=30)))
def test_the_accept_rule_is_the_packages(header: str) -> None:
    raw = header.encode("latin-1", errors="replace")
    package = check_accept_headers(Request({"type": "http", "headers": [(b"accept", raw)]}))[0]
    assert stateless_call.accepts_json(raw) is package
