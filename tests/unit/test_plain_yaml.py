"""Issue 22 item 2 (D138): the plain-YAML fast path builds exactly what ruamel's safe YAML 1.2
loader builds, or nothing (the full loader then reads the file). A wrong scalar type here would
change a capability silently (``port: 0o17``, ``enabled: yes``, ``version: 1.10``), so the oracle
is the loader itself, on every YAML file of the project and the shared corpus and on generated
documents that stress scalar resolution, nesting, keys and the constructs outside the subset."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml.error import YAMLError
from support import ROOT, SHARED

from naftiko_runtime.spec.plain_yaml import plain_load
from naftiko_runtime.spec.source import MAX_DEPTH, MAX_EXPANDED_NODES, SourceError, _safe_yaml, parse_text

YAML_FILES = sorted(
    path
    for folder in (ROOT / "capabilities", ROOT / "examples", ROOT / "tests", ROOT / "conformance", SHARED)
    if folder.is_dir()
    for path in [*folder.rglob("*.yaml"), *folder.rglob("*.yml")]
    if ".venv" not in path.parts
)


def same(a: Any, b: Any) -> bool:
    """Equal values of the same types all the way down (``1``, ``1.0`` and ``True`` differ; NaN is NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(k, j) and same(a[k], b[j]) for k, j in zip(a, b, strict=True))
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def full_load(text: str) -> tuple[Any] | None:
    """The safe loader's value, or ``None`` when it refuses the text."""
    try:
        return (_safe_yaml().load(io.StringIO(text)),)
    except (YAMLError, ValueError, RecursionError):
        return None


def test_every_project_yaml_file_loads_the_same_and_the_capabilities_take_the_fast_path() -> None:
    assert len(YAML_FILES) > 50
    taken = 0
    for path in YAML_FILES:
        text = path.read_text(encoding="utf-8-sig")
        fast, full = plain_load(text, MAX_DEPTH, MAX_EXPANDED_NODES), full_load(text)
        if fast is not None:
            taken += 1
            assert full is not None and same(fast[0], full[0]), path
    polytomic = sorted((ROOT / "capabilities").glob("polytomic-*.yaml"))
    assert polytomic and all(plain_load(p.read_text(), MAX_DEPTH, MAX_EXPANDED_NODES) for p in polytomic)
    assert taken > len(YAML_FILES) // 2


SCALARS = [
    "a",
    "true",
    "True",
    "TRUE",
    "tRue",
    "false",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "null",
    "Null",
    "NULL",
    "~",
    "",
    "0",
    "-0",
    "+1",
    "017",
    "0o17",
    "0O17",
    "0x1F",
    "0X1f",
    "0b101",
    "1_000",
    "1,000",
    "1:20",
    "1.5",
    "1.",
    ".5",
    "1e3",
    "1.0e+3",
    "1E-3",
    "-1.5e3",
    ".inf",
    "-.Inf",
    "+.INF",
    ".nan",
    ".NaN",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10",
    "2002-13-40",
    "=",
    "<<",
    "1.10",
    "12:30:45",
    "0.1.2",
    "v1",
    "$.data",
    "{{X}}",
    "a b",
    "-",
    "?x",
    "9" * 30,
    "0x",
    "-.5",
]


def scalar_text(value: str, style: str) -> str:
    if style == "plain" and value and value not in ("-", "?x", "{{X}}", "=", "<<", "a b", "1,000", "$.data"):
        return value
    if style == "single":
        return "'" + value.replace("'", "''") + "'"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


scalars = st.builds(scalar_text, st.sampled_from(SCALARS), st.sampled_from(["plain", "plain", "single", "double"]))


def block(node: Any, indent: int) -> str:
    pad = " " * indent
    if isinstance(node, str):
        return node
    if isinstance(node, tuple):  # a mapping as (key, value) pairs
        lines = [f"{pad}{key}:" + value_text(value, indent) for key, value in node]
        return "\n".join(lines) if lines else pad + "{}"
    return "\n".join(f"{pad}-" + value_text(item, indent) for item in node) if node else pad + "[]"


def value_text(value: Any, indent: int) -> str:
    if isinstance(value, str):
        return " " + value
    if not value:
        return " {}" if isinstance(value, tuple) else " []"
    return "\n" + block(value, indent + 2)


trees = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(st.tuples(scalars, inner), max_size=4).map(tuple),
    ),
    max_leaves=20,
)
EXTRAS = ["", "", "", "&a ", "*a", "!!str ", "!!int ", "<<: {x: 1}", "--- ", "%YAML 1.1\n---\n", "[a, {b: c}]"]


@settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees.filter(lambda t: not isinstance(t, str)), st.sampled_from(EXTRAS), st.integers(0, 3))
def test_generated_documents_load_the_same_or_fall_back(tree: Any, extra: str, where: int) -> None:
    text = block(tree, 0)
    lines = text.split("\n")
    if extra:
        at = min(where, len(lines) - 1)
        lines[at] = extra + lines[at] if extra.endswith(("\n", " ")) else lines[at] + "\n" + extra
    text = "\n".join(lines) + "\n"
    fast, full = plain_load(text, MAX_DEPTH, MAX_EXPANDED_NODES), full_load(text)
    if fast is not None:
        assert full is not None, text
        assert same(fast[0], full[0]), text


def test_outside_the_subset_the_full_loader_decides_with_its_positioned_errors(tmp_path: Path) -> None:
    for text, message, line in (
        ("a: 1\na: 2\n", "duplicate key", 2),
        ("a: &x [1]\nb: *x\n", None, 0),
        ("a: !!int 7\n", None, 0),
        ("a: [1\n", "invalid YAML", 2),
        ("---\na: 1\n---\nb: 2\n", "invalid YAML", 3),
        ("<<: {a: 1}\nb: 2\n", None, 0),
        ("a:" + " [" * (MAX_DEPTH + 1) + "\n", f"nesting deeper than {MAX_DEPTH}", 1),
    ):
        assert plain_load(text, MAX_DEPTH, MAX_EXPANDED_NODES) is None, text
        try:
            document = parse_text(text, tmp_path / "c.yaml")
        except SourceError as exc:
            assert message is not None and message in exc.diagnostic.message, (text, exc.diagnostic)
            assert exc.diagnostic.line == line, (text, exc.diagnostic)
        else:
            assert message is None, text
            assert same(document.data, full_load(text)[0])  # type: ignore[index]


def test_a_document_past_the_node_limit_takes_the_full_loader() -> None:
    text = "[" + ", ".join("1" for _ in range(50)) + "]"
    assert plain_load(text, MAX_DEPTH, 40) is None
    assert plain_load(text, MAX_DEPTH, 60) == ([1] * 50,)


def test_every_implicit_resolver_is_keyed_by_first_character() -> None:
    """ruamel also tries the resolvers registered under ``None`` on every scalar; the fast path
    looks a scalar's resolvers up by its first character only, which is the same while there are none."""
    from naftiko_runtime.spec import plain_yaml

    assert not plain_yaml._RESOLVERS.get(None)
