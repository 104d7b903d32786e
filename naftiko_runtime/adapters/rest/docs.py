"""``/openapi.json`` and ``/docs`` on a REST port (issue 14, items 1 and 2).

Both are answered only when no declared route matches: a capability that declares ``GET /docs``
or ``GET /openapi.json`` keeps it (its file is the contract; the built-in page simply is not
served there), and the hot path pays nothing, since they are looked up after the route table
misses. Swagger UI comes from the ``swagger-ui-bundle-v2`` package's files, read once on first use:
the machines running a gateway may be offline, and a page must not load scripts from a CDN.
"""

from __future__ import annotations

import functools
import mimetypes
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from ...records import dataclass

OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png")
"""The Swagger UI files the page uses, served under ``/docs/``."""
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title}</title>
  <link rel="stylesheet" href="{docs}/swagger-ui.css">
  <link rel="icon" type="image/png" href="{docs}/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{docs}/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{url: "{openapi}", dom_id: "#swagger-ui", deepLinking: true,
                                 tryItOutEnabled: true, validatorUrl: null}});
  </script>
</body>
</html>
"""


@dataclass(frozen=True)
class Page:
    content_type: str
    body: Callable[[], bytes]


@functools.cache
def _asset(name: str) -> bytes:
    from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

    return (Path(swagger_ui_path) / name).read_bytes()


def _html_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def docs_pages(build_document: Callable[[], Mapping[str, Any]]) -> dict[str, Page]:
    """The built-in pages of one port, by path: the document, the page, and Swagger UI's files.

    The document is built on the first request for either page and kept (D149): a port's document
    describes every operation of every file on it (~0.3 s of CPU and 13 MB of JSON for the 11,500
    operations of 1,000 Polytomic files), paid before any port answered for a page most gateways
    never serve."""
    document = functools.cache(build_document)

    @functools.cache
    def openapi() -> bytes:
        return orjson.dumps(document())

    @functools.cache
    def page() -> bytes:
        title = _html_text(str(document()["info"]["title"]))
        return PAGE.format(title=title, docs=DOCS_PATH, openapi=OPENAPI_PATH).encode()

    pages = {OPENAPI_PATH: Page("application/json", openapi), DOCS_PATH: Page("text/html; charset=utf-8", page)}
    pages[DOCS_PATH + "/"] = pages[DOCS_PATH]  # the page's links are absolute: the same page works here
    for name in ASSETS:
        media = mimetypes.guess_type(name)[0] or "application/octet-stream"
        pages[f"{DOCS_PATH}/{name}"] = Page(media, functools.partial(_asset, name))
    return pages
