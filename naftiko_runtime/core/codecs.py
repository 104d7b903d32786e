"""Request-body encoders and response decoders, one registry each, chosen when a plan is compiled.

An operation's ``body: {type: ...}`` picks an encoder (specification section 3.10) and its
``outputRawFormat`` picks a decoder; a format that is in neither registry is refused at load time
by name, never guessed at per request. A new response format is its module (``formats/``, or a
plugin's) and one ``register_format``; a new body type is one entry in ``ENCODERS``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from ..extras import AVRO, HTML, MARKDOWN, PROTOBUF, Extra
from ..records import dataclass
from ..spec import plugged
from ..spec.exactjson import ExactDecodeError, check, dumps, loads
from ..spec.expressions import render_scalar
from .formats import Decode, DecodeError, FormatSetupError


def add_query(pairs: list[tuple[str, str]], name: str, value: Any) -> None:
    """D16: scalars as ``name=value``, arrays exploded, objects in deepObject style."""
    if value is None:
        return
    if isinstance(value, list):
        for item in value:
            add_query(pairs, name, item)
    elif isinstance(value, dict):
        for key, item in value.items():
            add_query(pairs, f"{name}[{key}]", item)
    else:
        pairs.append((name, render_scalar(value)))


@dataclass(frozen=True)
class Encoder:
    """Turns a rendered body value into bytes of one media type."""

    content_type: str
    encode: Callable[[Any], bytes]

    def encode_body(self, data: Any) -> tuple[bytes, str]:
        """The body and its ``Content-Type``."""
        return self.encode(data), self.content_type


class MultipartEncoder(Encoder):
    """``multipartForm`` (RFC 7578): each part by name, a file part with its filename and media
    type. The boundary is fresh per request, so that no part's content can be made to contain it."""

    def encode_body(self, data: Any) -> tuple[bytes, str]:
        boundary = "naftiko-" + secrets.token_hex(16)
        return _multipart(data, boundary), f"{self.content_type}; boundary={boundary}"


def _quoted(text: str) -> str:
    """A Content-Disposition parameter: quotes and line breaks escaped as browsers do (WHATWG)."""
    return text.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _multipart(parts: Any, boundary: str) -> bytes:
    """Part values are text, sent as UTF-8: the spec's ``value`` is a string (its templates rendered)."""
    out = bytearray()
    for part in parts or ():
        disposition = f'form-data; name="{_quoted(str(part.get("name", "")))}"'
        if part.get("filename") is not None:
            disposition += f'; filename="{_quoted(str(part["filename"]))}"'
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        if part.get("contentType"):
            media_type = render_scalar(part["contentType"]).replace("\r", "").replace("\n", "")
            out += f"Content-Type: {media_type}\r\n".encode()
        out += b"\r\n" + _text(part.get("value")) + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


def _json(data: Any) -> bytes:
    """A string is taken as JSON text already written by the author; anything else is encoded."""
    return data.encode() if isinstance(data, str) else dumps(data)


def _text(data: Any) -> bytes:
    return render_scalar(data if data is not None else "").encode()


def _form(data: Any) -> bytes:
    if not isinstance(data, dict):
        return _text(data)
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        add_query(pairs, key, value)
    return urlencode(pairs).encode()


ENCODERS: dict[str, Encoder] = {
    "json": Encoder("application/json", _json),
    "text": Encoder("text/plain; charset=utf-8", _text),
    "xml": Encoder("application/xml", _text),
    "sparql": Encoder("application/sparql-query", _text),
    "formUrlEncoded": Encoder("application/x-www-form-urlencoded", _form),
    "multipartForm": MultipartEncoder("multipart/form-data", _text),
}
TEMPLATE_BODY = Encoder("application/json", lambda data: render_scalar(data).encode())
"""``body: "..."`` written as one string: the author's JSON text, with its templates rendered."""


@dataclass(frozen=True)
class Decoder:
    """Turns an upstream body into the structure the ``$.`` mappings read."""

    format: str
    """The ``outputRawFormat`` it reads."""
    name: str
    """How an error message names what the body should have been."""
    decode: Callable[[bytes], Any]


def _decode_json(body: bytes) -> Any:
    try:
        return loads(body)
    except ExactDecodeError as exc:
        raise DecodeError(str(exc)) from exc


def check_json(body: bytes) -> None:
    """``body`` is JSON, or ``DecodeError`` with the same message ``_decode_json`` gives (D46, D158)."""
    try:
        check(body)
    except ExactDecodeError as exc:
        raise DecodeError(str(exc)) from exc


@dataclass(frozen=True)
class Format:
    """One ``outputRawFormat``: builds the operation's decoder from its ``outputSchema`` (a CSS
    selector, a heading prefix; ``None`` when absent) and the capability file's folder, at load time."""

    format: str
    name: str
    build: Callable[[str | None, Path], Decode]
    extra: Extra | None = None
    """The optional dependencies its decoder imports: checked at load, before ``build``."""

    def decoder(self, schema: str | None = None, directory: Path = Path()) -> Decoder:
        """Raises ``FormatSetupError`` for an ``outputSchema`` that cannot be used."""
        return Decoder(self.format, self.name, self.build(schema, directory))


def _fixed(decode: Decode) -> Callable[[str | None, Path], Decode]:
    """A format whose spec gives ``outputSchema`` no meaning ("other formats - unused")."""
    return lambda schema, directory: decode


# Each format's module is imported when an operation that uses it is compiled: their parsers
# (protobuf and grpc-tools, fastavro, selectolax, markdown-it) cost ~50 ms of every start-up else,
# and are optional extras of the package (naftiko_runtime.extras).


def _xml(schema: str | None, directory: Path) -> Decode:
    from .formats.markup import decode_xml

    return decode_xml


def _html(schema: str | None, directory: Path) -> Decode:
    from .formats.html import html_decoder

    return html_decoder(schema)


def _yaml(schema: str | None, directory: Path) -> Decode:
    from .formats.text import decode_yaml

    return decode_yaml


def _delimited(separator: str) -> Callable[[str | None, Path], Decode]:
    def build(schema: str | None, directory: Path) -> Decode:
        from .formats.text import delimited_decoder

        return delimited_decoder(separator)

    return build


def _markdown(schema: str | None, directory: Path) -> Decode:
    from .formats.markdown import markdown_decoder

    return markdown_decoder(schema)


def _avro(schema: str | None, directory: Path) -> Decode:
    from .formats.avro import avro_decoder

    return avro_decoder(schema, directory)


def _protobuf(schema: str | None, directory: Path) -> Decode:
    from .formats.protobuf import protobuf_decoder

    return protobuf_decoder(schema, directory)


DECODERS: dict[str, Format] = {}
"""Response formats by ``outputRawFormat``: the specification's below, a plugin's through
``register_format``."""


def register_format(response_format: Format) -> None:
    """The format becomes a valid ``outputRawFormat``: accepted by the dialects' shape checks and
    decoded by the operations that name it."""
    DECODERS[response_format.format] = response_format
    plugged.FORMATS.add(response_format.format)


for _format in (
    Format("json", "JSON", _fixed(_decode_json)),
    Format("xml", "XML", _xml),
    Format("yaml", "YAML", _yaml),
    Format("csv", "CSV", _delimited(",")),
    Format("tsv", "TSV (tab-separated values)", _delimited("\t")),
    Format("psv", "PSV (pipe-separated values)", _delimited("|")),
    Format("html", "HTML", _html, HTML),
    Format("markdown", "Markdown", _markdown, MARKDOWN),
    Format("avro", "Avro", _avro, AVRO),
    Format("protobuf", "Protobuf", _protobuf, PROTOBUF),
    # beta4: the body is streamed to the caller as it came (core.execution), never decoded.
    Format("binary", "binary content", _fixed(bytes)),
):
    register_format(_format)

__all__ = [
    "DECODERS",
    "check_json",
    "ENCODERS",
    "DecodeError",
    "Decoder",
    "Encoder",
    "Format",
    "FormatSetupError",
    "register_format",
]
