"""Issue 13, items 2 and 4: response formats (outputRawFormat) and multipartForm request bodies.

Decoders are checked on their own (pure bytes -> structure, with a hypothesis property each: any
bytes give JSON-compatible data or a DecodeError) and through a real gateway and upstream on
loopback: the reference engine's own capability files for each format, a bad body as a 502
problem naming the format (D53), and the XML and YAML bombs refused.
"""

from __future__ import annotations

import email.parser
import email.policy
import functools
from pathlib import Path

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import ROOT, SHARED, Canned, RecordingUpstream, needs_extra, running_gateway

from naftiko_runtime.core.codecs import DECODERS, DecodeError, FormatSetupError
from naftiko_runtime.serving.loading import load_source
from naftiko_runtime.settings import Settings
from naftiko_runtime.spec.source import parse_text

FIXTURES = ROOT / "tests" / "fixtures" / "formats"
REFERENCE = SHARED / "reference" / "src" / "test" / "resources"
needs_reference = pytest.mark.skipif(not REFERENCE.is_dir(), reason="../shared/reference is absent")

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<users><user><name>&lol9;</name></user></users>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE users [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<users><user><name>&xxe;</name></user></users>"""
XXE_PARAMETER = b"""<?xml version="1.0"?>
<!DOCTYPE users [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>
<users/>"""
YAML_ALIAS_BOMB = b"""a: &a [x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: [*g, *g, *g, *g, *g, *g, *g, *g, *g]
"""


def decode(format: str, body: bytes, schema: str | None = None):
    return DECODERS[format].decoder(schema).decode(body)


# -- decoders on their own -----------------------------------------------------------------------


def test_xml_is_jacksons_tree_as_the_reference_test_asserts():
    """XmlIntegrationTest: the root element is dropped, repeated <user> is a list, leaves are text."""
    document = decode("xml", (FIXTURES / "sample-users.xml").read_bytes())
    assert [u["name"] for u in document["user"]] == ["Alice Smith", "Bob Johnson", "Carol White"]
    assert document["user"][0] == {"id": "1", "name": "Alice Smith", "email": "alice@example.com"}


def test_xml_attributes_namespaces_mixed_text_and_empty_elements():
    body = b'<r xmlns:a="urn:a"><a:item a:id="7">x<b/>tail</a:item><item id="8"/></r>'
    assert decode("xml", body) == {"item": [{"id": "7", "b": "", "": "xtail"}, {"id": "8"}]}


@pytest.mark.parametrize("body", [BILLION_LAUGHS, XXE, XXE_PARAMETER], ids=["billion-laughs", "xxe", "xxe-dtd"])
def test_xml_entities_are_refused_before_expansion(body):
    with pytest.raises(DecodeError, match="refused for safety"):
        decode("xml", body)


@pytest.mark.parametrize("format", ["xml", "yaml"])
def test_deep_nesting_is_a_decode_error(format):
    body = b"<a>" * 5000 + b"</a>" * 5000 if format == "xml" else b"[" * 5000 + b"]" * 5000
    with pytest.raises(DecodeError):
        decode(format, body)


def test_yaml_aliases_cannot_expand_a_small_body():
    assert len(YAML_ALIAS_BOMB) < 500
    with pytest.raises(DecodeError, match="alias"):
        decode("yaml", YAML_ALIAS_BOMB)
    with pytest.raises(DecodeError):
        decode("yaml", b"&a [*a]")  # a self-referencing anchor
    # Aliases a document written out in full could hold are fine.
    assert decode("yaml", b"base: &b {x: 1}\ncopy: *b\n") == {"base": {"x": 1}, "copy": {"x": 1}}


def test_yaml_values_become_json_data():
    document = decode("yaml", b"1: one\nwhen: 2024-05-01\nat: 2024-05-01T10:00:00Z\nok: yes\nn: null\n")
    assert document["1"] == "one" and document["when"] == "2024-05-01" and document["at"].startswith("2024-05-01T10")
    orjson.dumps(document)
    assert decode("yaml", b"big: 123456789012345678901234567890") == {"big": "123456789012345678901234567890"}


def test_delimited_rows_are_keyed_by_the_header_line():
    assert decode("csv", (FIXTURES / "sample-users.csv").read_bytes())[2] == {
        "id": "3",
        "name": "White, Carol",
        "email": "carol@example.com",
    }
    assert decode("tsv", b"a\tb\n1\t2\n\n3\n") == [{"a": "1", "b": "2"}, {"a": "3"}]
    assert decode("psv", b"\xef\xbb\xbfa|b\n1|x,y\n") == [{"a": "1", "b": "x,y"}]
    assert decode("csv", b"") == []
    with pytest.raises(DecodeError, match="line 2 has 3 fields"):
        decode("csv", b"a,b\n1,2,3\n")
    with pytest.raises(DecodeError, match="UTF-8"):
        decode("csv", b"a\n\xff\n")


@needs_extra("html")
def test_html_tables_as_the_reference_test_asserts():
    """HtmlIntegrationTest: one table selected by table.products, two rows, cells by header."""
    document = decode("html", (FIXTURES / "sample-products.html").read_bytes(), "table.products")
    assert len(document["tables"]) == 1 and len(document["tables"][0]) == 2
    assert document["tables"][0][0]["Name"] == "Widget"
    assert document["tables"][0][1] == {"Name": "Gadget Pro", "Price": "$99", "Stock": "0"}
    everything = decode("html", (FIXTURES / "sample-products.html").read_bytes())
    assert everything["tables"][0] == [{"Key": "not a product"}]
    scoped = decode("html", b"<div id=d><table><tr><th>A</th></tr><tr><td>1</td></tr></table></div>", "#d")
    assert scoped == {"tables": [[{"A": "1"}]]}
    assert decode("html", b"<table><tr><td>no header</td></tr></table>") == {"tables": []}


@needs_extra("html")
def test_html_selector_is_checked_at_load_time():
    with pytest.raises(FormatSetupError, match="CSS selector"):
        DECODERS["html"].decoder("table[")


@needs_extra("markdown")
def test_markdown_as_the_reference_test_asserts():
    """MarkdownIntegrationTest: front matter, one table (a '|' in a code block is not one), sections."""
    document = decode("markdown", (FIXTURES / "sample-readme.md").read_bytes())
    assert document["frontMatter"] == {"title": "Product Release Notes", "version": 2}
    assert document["tables"] == [[{"Feature": "Search", "Status": "GA"}, {"Feature": "Export", "Status": "Beta"}]]
    assert [s["heading"] for s in document["sections"]] == ["Overview", "Known issues"]
    assert document["sections"][0] == {
        "heading": "Overview",
        "level": 1,
        "content": "This release adds search and export.",
    }
    assert document["sections"][1]["content"] == "a | b is not a table"


@needs_extra("markdown")
def test_markdown_heading_prefix_keeps_matching_sections_and_their_tables():
    body = (
        b"# Intro\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        b"## Results\n\n| k | v |\n|---|---|\n| x | y |\n\n### Detail\n\nmore\n\n## Other\n\nno\n"
    )
    document = decode("markdown", body, "## Results")
    assert [s["heading"] for s in document["sections"]] == ["Results", "Detail"]
    assert document["tables"] == [[{"k": "x", "v": "y"}]]


FORMATS = [
    *("xml", "yaml", "csv", "tsv", "psv"),
    pytest.param("html", marks=needs_extra("html")),
    pytest.param("markdown", marks=needs_extra("markdown")),
]


@pytest.mark.parametrize("format", FORMATS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_any_bytes_give_json_data_or_a_decode_error(format, body):
    try:
        document = decode(format, body)
    except DecodeError:
        return
    orjson.dumps(document)


# -- through the gateway -------------------------------------------------------------------------


def capability(tmp_path: Path, format: str, mapping: str, schema: str | None = None, tool: bool = False) -> Path:
    schema_line = f"\n              outputSchema: {schema!r}" if schema else ""
    file = tmp_path / f"{format}.yaml"
    file.write_text(f"""naftiko: 1.0.0-alpha2
info: {{label: Formats, description: One upstream format.}}
capability:
  consumes:
    - type: http
      namespace: api
      baseUri: http://upstream.invalid
      resources:
        - name: doc
          path: /doc
          operations:
            - name: get
              method: GET
              outputRawFormat: {format}{schema_line}
  exposes:
    - type: rest
      namespace: api-rest
      port: 8080
      resources:
        - path: /doc
          operations:
            - method: GET
              call: api.get
              outputParameters: [{{type: array, mapping: "{mapping}"}}]
    - type: mcp
      namespace: api-mcp
      port: 9090
      tools:
        - name: get-doc
          description: The document.
          call: api.get
          outputParameters: [{{type: array, mapping: "{mapping}"}}]
""")
    return file


def _mcp_call(url: str, tool: str) -> dict:
    response = httpx.post(
        url + "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": {}}},
        headers={"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"},
    )
    return response.json()["result"]


def test_bad_bodies_and_bombs_are_502_problems_naming_the_format(tmp_path, upstream):
    file = capability(tmp_path, "xml", "$..name")
    with running_gateway([file], {}, base_uris={"api": upstream.url}) as gw:
        url = gw.url(8080) + "/doc"
        upstream.reset(
            lambda r: Canned(200, b"<users><user><name>Ann</name></user></users>", {"Content-Type": "text/xml"})
        )
        assert httpx.get(url).json() == ["Ann"]
        result = _mcp_call(gw.url(9090), "get-doc")
        assert result["structuredContent"] == {"result": ["Ann"]}
        for body, detail in [(b"<users><unclosed>", "not XML"), (BILLION_LAUGHS, "refused"), (XXE, "refused")]:
            upstream.reset(lambda r, body=body: Canned(200, body, {"Content-Type": "application/xml"}))
            response = httpx.get(url)
            assert response.status_code == 502
            assert response.headers["content-type"] == "application/problem+json"
            assert detail in response.json()["detail"] and "api.get" in response.json()["detail"]
            assert "root:" not in response.text  # /etc/passwd was never read
            result = _mcp_call(gw.url(9090), "get-doc")
            assert result["isError"] and "502" in result["content"][0]["text"]


def test_yaml_bomb_is_502_and_the_gateway_stays_up(tmp_path, upstream):
    file = capability(tmp_path, "yaml", "$.a")
    with running_gateway([file], {}, base_uris={"api": upstream.url}) as gw:
        upstream.reset(lambda r: Canned(200, YAML_ALIAS_BOMB, {"Content-Type": "application/yaml"}))
        response = httpx.get(gw.url(8080) + "/doc")
        assert response.status_code == 502 and "YAML" in response.json()["detail"]
        upstream.reset(lambda r: Canned(200, b"a: [1, 2]", {"Content-Type": "application/yaml"}))
        assert httpx.get(gw.url(8080) + "/doc").json() == [1, 2]


def test_whole_document_mapping_of_another_format_answers_its_structure_in_json(tmp_path, upstream):
    """D40/D50: `$.` passes JSON bytes through (D46); another format passes its decoded structure."""
    file = capability(tmp_path, "csv", "$.")
    with running_gateway([file], {}, base_uris={"api": upstream.url}) as gw:
        upstream.reset(lambda r: Canned(200, b"a,b\n1,2\n", {"Content-Type": "text/csv"}))
        response = httpx.get(gw.url(8080) + "/doc")
        assert response.headers["content-type"] == "application/json"
        assert response.json() == [{"a": "1", "b": "2"}]


@needs_extra("html")
def test_bad_html_selector_is_a_load_error_at_output_schema(tmp_path):
    file = capability(tmp_path, "html", "$.tables", schema="table[")
    report = load_source(parse_text(file.read_text(), file), Settings(), {})
    assert not report.ok
    assert any("outputSchema" in str(d) and "CSS selector" in str(d) for d in report.diagnostics)


REFERENCE_CASES = {
    # format: (reference capability, sample, content type, what the first mapped item is)
    "yaml": ("sample-users.yaml", "application/yaml", {"id": "1", "name": "Alice Smith", "email": "alice@example.com"}),
    "csv": ("sample-users.csv", "text/csv", {"id": "1", "name": "Alice Smith", "email": "alice@example.com"}),
    "html": ("sample-products.html", "text/html", {"name": "Widget", "price": "$10", "stock": "5"}),
    "markdown": ("sample-readme.md", "text/markdown", {"feature": "Search", "status": "GA"}),
}


@needs_reference
@pytest.mark.parametrize(
    "format",
    [pytest.param(f, marks=needs_extra(f)) if f in ("html", "markdown") else f for f in sorted(REFERENCE_CASES)],
)
def test_reference_engine_capability_files_serve_their_samples(format, upstream):
    sample, content_type, first = REFERENCE_CASES[format]
    file = REFERENCE / "formats" / f"{format}-capability.yaml"
    body = (REFERENCE / "schemas" / sample if format == "yaml" else FIXTURES / sample).read_bytes()
    namespace = f"mock-{format}"
    with RecordingUpstream() as server, running_gateway([file], {}, base_uris={namespace: server.url}) as gw:
        server.reset(lambda r: Canned(200, body, {"Content-Type": content_type}))
        port = {"yaml": 9092, "csv": 9092, "html": 9093, "markdown": 9094}[format]
        path = {"yaml": "/yaml/users", "csv": "/csv/users", "html": "/html/products", "markdown": "/markdown/features"}
        response = httpx.get(gw.url(port) + path[format])
        assert response.status_code == 200, response.text
        assert response.json()[0] == first


# -- multipartForm request bodies ----------------------------------------------------------------


def test_multipart_form_sends_fields_and_files(tmp_path, upstream):
    file = tmp_path / "multipart.yaml"
    file.write_text("""naftiko: 1.0.0-alpha2
info: {label: Upload, description: A multipart upload.}
capability:
  consumes:
    - type: http
      namespace: api
      baseUri: http://upstream.invalid
      resources:
        - name: files
          path: /files
          operations:
            - name: upload
              method: POST
              inputParameters:
                - {name: title, in: body, type: string}
              body:
                type: multipartForm
                data:
                  - {name: title, value: "{{title}}"}
                  - {name: file, value: "id,name\\n1,Ann\\n", filename: "a \\"b\\".csv", contentType: text/csv}
  exposes:
    - type: rest
      namespace: api-rest
      port: 8080
      resources:
        - path: /files
          operations:
            - {method: POST, call: api.upload, with: {title: rest.title}}
""")
    with running_gateway([file], {}, base_uris={"api": upstream.url}) as gw:
        for title in ("Résumé", "two"):
            upstream.reset(lambda r: Canned(201, b"{}"))
            assert httpx.post(gw.url(8080) + "/files", json={"title": title}).status_code == 201
            request = upstream.last
            content_type = request.header("content-type")
            assert content_type.startswith("multipart/form-data; boundary=naftiko-")
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + request.body
            )
            parts = list(message.iter_parts())
            assert [p.get_param("name", header="content-disposition") for p in parts] == ["title", "file"]
            assert parts[0].get_payload(decode=True).decode() == title
            assert parts[1].get_filename() == "a %22b%22.csv"
            assert parts[1].get_content_type() == "text/csv"
            assert parts[1].get_payload(decode=True) == b"id,name\n1,Ann\n"


# -- avro ----------------------------------------------------------------------------------------

AVRO_RECORDS = {
    "records": [
        {
            "id": "1",
            "title": "Dune",
            "description": "Desert planet",
            "kind": "BOOK",
            "checksum": b"\x00\x01",
            "updated": 1700000000000,
        },
        {"id": "2", "title": "Alien", "description": None, "kind": "FILM", "checksum": b"", "updated": 0},
    ]
}


def avro_body() -> bytes:
    import io

    from fastavro import parse_schema, schemaless_writer

    out = io.BytesIO()
    schemaless_writer(out, parse_schema(orjson.loads((FIXTURES / "records.avsc").read_bytes())), AVRO_RECORDS)
    return out.getvalue()


@needs_extra("avro")
def test_avro_datum_read_with_the_schema_file():
    decoder = DECODERS["avro"].decoder("records.avsc", FIXTURES)
    document = decoder.decode(avro_body())
    assert document["records"][0]["title"] == "Dune" and document["records"][0]["kind"] == "BOOK"
    assert document["records"][0]["checksum"] == "AAE=" and document["records"][1]["description"] is None
    assert document["records"][0]["updated"].startswith("2023-11-14T22:13:20")
    with pytest.raises(DecodeError, match="left over"):
        decoder.decode(avro_body() + b"\x00")
    with pytest.raises(DecodeError):
        decoder.decode(avro_body()[:-3])


@needs_extra("avro")
def test_avro_schema_is_required_read_at_load_and_safe(tmp_path):
    with pytest.raises(FormatSetupError, match="needs outputSchema"):
        DECODERS["avro"].decoder(None, tmp_path)
    with pytest.raises(FormatSetupError, match="no such file"):
        DECODERS["avro"].decoder("missing.avsc", tmp_path)
    (tmp_path / "bad.avsc").write_text('{"type": "record"}')
    with pytest.raises(FormatSetupError, match="not an Avro schema"):
        DECODERS["avro"].decoder("bad.avsc", tmp_path)
    (tmp_path / "nulls.avsc").write_text('{"type": "array", "items": "null"}')
    with pytest.raises(FormatSetupError, match="take no bytes"):
        DECODERS["avro"].decoder("nulls.avsc", tmp_path)


@needs_extra("avro")
@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=300))
def test_any_bytes_give_an_avro_datum_or_a_decode_error(body):
    try:
        document = DECODERS["avro"].decoder("records.avsc", FIXTURES).decode(body)
    except DecodeError:
        return
    orjson.dumps(document)


@needs_extra("avro")
@needs_reference
def test_reference_avro_capability_serves_with_its_schema_added(tmp_path, upstream):
    """The reference engine's avro-capability.yaml has no outputSchema, which the spec requires for
    avro (the reference engine fails each request; this runtime refuses the file at load). With
    the schema named, it serves."""
    text = (REFERENCE / "formats" / "avro-capability.yaml").read_text()
    assert "outputSchema" not in text
    file = tmp_path / "avro-capability.yaml"
    file.write_text(
        text.replace('outputRawFormat: "avro"', 'outputRawFormat: "avro"\n              outputSchema: "records.avsc"')
    )
    (tmp_path / "records.avsc").write_bytes((FIXTURES / "records.avsc").read_bytes())
    body = avro_body()
    with running_gateway([file], {}, base_uris={"mock-avro": upstream.url}) as gw:
        upstream.reset(lambda r: Canned(200, body, {"Content-Type": "application/avro"}))
        response = httpx.get(gw.url(9093) + "/avro/records")
        assert response.status_code == 200, response.text
        assert response.json() == [
            {"id": "1", "title": "Dune", "description": "Desert planet"},
            {"id": "2", "title": "Alien", "description": None},
        ]
        assert upstream.last.header("accept") == "application/avro"


# -- protobuf ------------------------------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = b""
    while True:
        low, n = n & 0x7F, n >> 7
        out += bytes([low | (0x80 if n else 0)])
        if not n:
            return out


def _field(number: int, value: bytes | int) -> bytes:
    """One protobuf wire field: a length-delimited value or a varint."""
    if isinstance(value, bytes):
        return _varint(number << 3 | 2) + _varint(len(value)) + value
    return _varint(number << 3) + _varint(value)


PROTO_BODY = (
    _field(1, _field(1, b"1") + _field(2, b"Dune") + _field(3, b"Desert planet") + _field(4, 1) + _field(5, b"\0\1"))
    + _field(1, _field(1, b"2") + _field(2, b"Alien") + _field(6, 2**40))
    + _field(2, _field(1, b"a") + _field(2, 3))
)


@needs_extra("protobuf")
def test_protobuf_message_read_with_the_proto_file():
    document = DECODERS["protobuf"].decoder("records.proto", FIXTURES).decode(PROTO_BODY)
    assert document == {
        "records": [
            {"id": "1", "title": "Dune", "description": "Desert planet", "kind": "FILM", "checksum": "AAE="},
            {"id": "2", "title": "Alien", "views": 2**40},
        ],
        "counts": {"a": 3},
    }
    with pytest.raises(DecodeError, match="RecordList"):
        DECODERS["protobuf"].decoder("records.proto", FIXTURES).decode(b"\x0a\xff")


@needs_extra("protobuf")
def test_protobuf_schema_is_compiled_at_load(tmp_path):
    with pytest.raises(FormatSetupError, match="needs outputSchema"):
        DECODERS["protobuf"].decoder(None, tmp_path)
    (tmp_path / "bad.proto").write_text("message {")
    with pytest.raises(FormatSetupError, match="does not compile"):
        DECODERS["protobuf"].decoder("bad.proto", tmp_path)


@functools.cache
def records_proto():
    """Compiled once for the many examples below, and only where the protobuf extra is installed."""
    return DECODERS["protobuf"].decoder("records.proto", FIXTURES)


@needs_extra("protobuf")
@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=300))
def test_any_bytes_give_a_protobuf_message_or_a_decode_error(body):
    try:
        document = records_proto().decode(body)
    except DecodeError:
        return
    orjson.dumps(document)


@needs_extra("protobuf")
@needs_reference
def test_reference_protobuf_capability_serves_with_its_schema_added(tmp_path, upstream):
    """Like avro: the reference proto-capability.yaml names no outputSchema, which protobuf needs."""
    text = (REFERENCE / "formats" / "proto-capability.yaml").read_text()
    file = tmp_path / "proto-capability.yaml"
    file.write_text(
        text.replace(
            'outputRawFormat: "protobuf"', 'outputRawFormat: "protobuf"\n              outputSchema: "r.proto"'
        )
    )
    (tmp_path / "r.proto").write_bytes((FIXTURES / "records.proto").read_bytes())
    with running_gateway([file], {}, base_uris={"mock-proto": upstream.url}) as gw:
        upstream.reset(lambda r: Canned(200, PROTO_BODY, {"Content-Type": "application/protobuf"}))
        response = httpx.get(gw.url(9092) + "/proto/records")
        assert response.status_code == 200, response.text
        assert response.json() == [
            {"id": "1", "title": "Dune", "description": "Desert planet"},
            {"id": "2", "title": "Alien", "description": None},
        ]
