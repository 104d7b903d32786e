"""Issue 6, item 1: mutated capability documents never crash or hang the loader, and every
rejection is positioned (D1, D4)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import io
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from hardening_support import COUNTS, report
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from support import CAPABILITIES

from naftiko_runtime.cli import main as naftiko
from naftiko_runtime.serving.loading import load_file
from naftiko_runtime.settings import Settings

SMALL = """\
naftiko: 1.0.0-alpha2
info: {label: Fuzz base, description: a small valid capability}
binds:
- namespace: env
  keys: {TOKEN: FUZZ_TOKEN}
capability:
  consumes:
  - type: http
    namespace: api
    baseUri: http://127.0.0.1:9
    authentication: {type: bearer, token: "{{env.TOKEN}}"}
    resources:
    - name: items
      path: /items/{{id}}
      operations:
      - name: get
        method: GET
        inputParameters:
        - {name: id, in: path, type: string, required: true}
        - {name: q, in: query, type: string}
        outputParameters:
        - {name: result, type: object, value: $.}
  exposes:
  - type: rest
    namespace: api-rest
    port: 8080
    resources:
    - path: /items/{id}
      operations:
      - method: GET
        call: api.get
        with: {id: rest.id, q: rest.q}
        outputParameters:
        - {type: object, mapping: $.}
  - type: mcp
    namespace: api-mcp
    port: 9090
    transport: http
    tools:
    - name: get-item
      description: Get an item
      call: api.get
      with: {id: tools.id}
"""

BASES = [SMALL] + [path.read_text() for path in CAPABILITIES]
SECONDS_PER_DOCUMENT = 10.0
DIAGNOSTIC = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<column>\d+): (error|warning): .+")
_pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="fuzz-loader")


def _yaml_data(text: str) -> Any:
    return YAML(typ="safe").load(text)


BASE_DATA = [_yaml_data(text) for text in BASES]

# --- mutations ------------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.just("{{"),
    st.just("{{nope.MISSING}}"),
    st.just("$.[*"),
    st.just("rest."),
    st.just("../../etc/passwd"),
    st.just("ftp://x"),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)


def _paths(node: Any, at: tuple = ()) -> list[tuple]:
    found = [at]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, at + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, at + (index,))
    return found


def _replace(node: Any, at: tuple, make) -> Any:
    if not at:
        return make(node)
    head, rest = at[0], at[1:]
    if isinstance(node, dict):
        return {k: (_replace(v, rest, make) if k == head else v) for k, v in node.items()}
    return [(_replace(v, rest, make) if i == head else v) for i, v in enumerate(node)]


def _delete(node: Any, at: tuple) -> Any:
    if len(at) == 1:
        if isinstance(node, dict):
            return {k: v for k, v in node.items() if k != at[0]}
        return [v for i, v in enumerate(node) if i != at[0]]
    return _replace(node, at[:-1], lambda parent: _delete(parent, at[-1:]))


def _nest(depth: int, kind: str) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


@st.composite
def structural(draw) -> bytes:
    """A valid document with one structural change, written out as YAML (flow style via JSON)."""
    data = draw(st.sampled_from(BASE_DATA))
    paths = _paths(data)
    at = draw(st.sampled_from(paths))
    action = draw(st.sampled_from(["type", "type", "delete", "deep", "huge", "wrap"]))
    if action == "delete" and at:
        data = _delete(data, at)
    elif action == "type":
        new = draw(values)
        data = _replace(data, at, lambda _: new)
    elif action == "deep":
        depth = draw(st.sampled_from([50, 127, 129, 500, 20000]))
        nested = _nest(depth, draw(st.sampled_from(["list", "dict"])))
        data = _replace(data, at, lambda _: nested)
    elif action == "huge":
        size = draw(st.sampled_from([10_000, 1_000_000, 6_000_000]))
        data = _replace(data, at, lambda _: "H" * size)
    else:
        data = _replace(data, at, lambda old: [old, old])
    try:
        return json.dumps(data, ensure_ascii=False, default=str).encode()
    except (ValueError, RecursionError):
        return b"x: " + b"[" * 20000 + b"]" * 20000


def _bomb(levels: int, width: int) -> str:
    lines = [f"b0: &b0 [{', '.join(['lol'] * width)}]"]
    lines += [f"b{i}: &b{i} [{', '.join([f'*b{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@st.composite
def textual(draw) -> bytes:
    """A valid document's text with one textual change: aliases, bad bytes, duplicates, truncation."""
    text = draw(st.sampled_from(BASES))
    lines = text.splitlines(keepends=True)
    action = draw(
        st.sampled_from(
            ["bomb", "recursive", "bytes", "duplicate", "truncate", "insert", "deep_flow", "deep_block", "tabs"]
        )
    )
    index = draw(st.integers(0, len(lines) - 1))
    if action == "bomb":
        return (_bomb(draw(st.integers(3, 10)), draw(st.integers(2, 10))) + text).encode()
    if action == "recursive":
        return ("loop: &loop [1, *loop]\n" + text).encode()
    if action == "bytes":
        raw = text.encode()
        offset = draw(st.integers(0, len(raw)))
        return (
            raw[:offset]
            + draw(
                st.sampled_from(
                    [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x00", b"\xfe\xff", b"\x1b[31m", b"\xef\xbb\xbf"]
                )
            )
            + raw[offset:]
        )
    if action == "duplicate":
        line = lines[index]
        if ":" in line:
            lines.insert(index + 1, line)
        return "".join(lines).encode()
    if action == "truncate":
        return text.encode()[: draw(st.integers(0, len(text.encode())))]
    if action == "insert":
        lines.insert(index, draw(st.text(alphabet=st.characters(codec="utf-8"), max_size=40)) + "\n")
        return "".join(lines).encode()
    if action == "deep_flow":
        depth = draw(st.sampled_from([200, 30000, 200000]))
        return (text + "\nextra: " + "[" * depth + "]" * depth + "\n").encode()
    if action == "deep_block":
        depth = draw(st.sampled_from([200, 30000, 200000]))
        return (text + "\nextra:\n" + "- " * depth + "x\n").encode()
    lines[index] = lines[index].replace("  ", "\t", 1)
    return "".join(lines).encode()


# --- the property -----------------------------------------------------------------------------------


def _load_bounded(path: Path) -> tuple[Any, float]:
    started = time.monotonic()
    future = _pool.submit(load_file, path, Settings(), {})
    report_ = future.result(timeout=SECONDS_PER_DOCUMENT)  # a TimeoutError here is a hang: the test fails
    return report_, time.monotonic() - started


def check_document(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzzed.yml"
        path.write_bytes(raw)
        report_, elapsed = _load_bounded(path)
        line_count = raw.count(b"\n") + 1
        assert elapsed < SECONDS_PER_DOCUMENT
        for diagnostic in report_.diagnostics:
            assert diagnostic.file == str(path)
            assert 1 <= diagnostic.line <= line_count + 1, diagnostic
            assert diagnostic.column >= 1, diagnostic
            assert diagnostic.message.strip()
        if not report_.ok:
            assert report_.errors, "a rejected document names at least one positioned error"
        COUNTS["loader documents tried"] = int(COUNTS.get("loader documents tried", 0)) + 1
        if not report_.ok:
            COUNTS["loader documents rejected"] = int(COUNTS.get("loader documents rejected", 0)) + 1
        COUNTS["loader slowest document (s)"] = round(
            max(float(COUNTS.get("loader slowest document (s)", 0)), elapsed), 2
        )


FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=False,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


@FUZZ
@given(structural())
def test_structural_mutations_never_crash_or_hang(raw):
    check_document(raw)


@FUZZ
@given(textual())
def test_textual_mutations_never_crash_or_hang(raw):
    check_document(raw)


FIXED = {
    "billion laughs": _bomb(9, 9) + SMALL,
    "alias bomb inside info": SMALL.replace(
        "info: {label: Fuzz base, description: a small valid capability}", "info:\n  label: x\n  tags: *b8\n"
    ).replace("naftiko:", _bomb(9, 9) + "naftiko:"),
    "recursive alias": "a: &a {self: *a}\n" + SMALL,
    "deep flow list (segfaulted the C composer)": SMALL + "x: " + "[" * 100000 + "]" * 100000 + "\n",
    "deep block list": SMALL + "x:\n" + "- " * 100000 + "1\n",
    "deep flow mapping": SMALL + "x: " + "{a: " * 50000 + "1" + "}" * 50000 + "\n",
    "duplicate top-level key": SMALL + "naftiko: 0.5\n",
    "empty": "",
    "a scalar": "just text",
    "a list": "- 1\n- 2\n",
    "null document": "~\n",
    "two documents": SMALL + "---\n" + SMALL,
    "tag": "!!python/object:os.system {}\n",
    "custom tag": "naftiko: !foo 1\n",
}


def test_fixed_hostile_documents(tmp_path):
    for text in FIXED.values():
        raw = text.encode() if isinstance(text, str) else text
        check_document(raw)
    for raw in (b"\xff\xfe" + SMALL.encode("utf-16-le"), b"\x00" * 1000, SMALL.encode()[:100] + b"\x80"):
        check_document(raw)
    big = tmp_path / "big.yml"
    big.write_bytes(b"a: " + b"x" * (9 * 1024 * 1024))
    report_, elapsed = _load_bounded(big)
    assert report_.errors and "limited" in report_.errors[0].message and elapsed < 2


def test_validate_command_on_hostile_files(tmp_path):
    """``naftiko validate`` prints only positioned diagnostics and a summary; exit 0 or 1, never a trace."""
    files = []
    for index, text in enumerate(FIXED.values()):
        path = tmp_path / f"hostile-{index}.yml"
        path.write_text(text)
        files.append(path)
    (tmp_path / "bytes.yml").write_bytes(SMALL.encode()[:200] + b"\xff" + SMALL.encode()[200:])
    files.append(tmp_path / "bytes.yml")
    out = io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(out):
        code = naftiko(["validate", *map(str, files)])
    assert time.monotonic() - started < 20
    assert code == 1
    lines = out.getvalue().splitlines()
    assert lines[-1].startswith(f"0 of {len(files)} files valid")
    for line in lines[:-1]:
        assert DIAGNOSTIC.match(line), line
    rejected = {DIAGNOSTIC.match(line)["file"] for line in lines[:-1] if ": error: " in line}
    assert rejected == set(map(str, files))
    report("validate on hostile files", f"{len(files)} files, {len(lines) - 1} positioned diagnostics")
