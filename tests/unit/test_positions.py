"""D153: a diagnostic's line and column, walked from the parser's events, are the ones the file's
node tree gives, for every node of every capability file we have and for paths the file lacks."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ruamel.yaml import YAML
from support import CAPABILITIES, SHARED

from naftiko_runtime.spec.diagnostics import DocPath
from naftiko_runtime.spec.positions import event_position
from naftiko_runtime.spec.source import SourceDocument, parse_text

CORPUS = [*CAPABILITIES, *sorted((SHARED / "reference").rglob("*.y*ml"))] if SHARED.is_dir() else list(CAPABILITIES)


PATHS_A_FILE = 60
"""Paths checked in each corpus file, spread over it: each walk reads the file from its start."""


def tree(text: str) -> SourceDocument:
    """A document that answers from its node tree (it has walked its allowance of events)."""
    document = SourceDocument(Path("x.yml"), text, None)
    document._walks = 99
    return document


def tree_position(text: str, at: DocPath) -> tuple[int, int]:
    return tree(text).position(at)


def paths(value: Any, at: DocPath = ()) -> Iterator[DocPath]:
    yield at
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*at, key if isinstance(key, str) else str(key)))
            yield (*at, "no-such-key")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*at, index))
        yield (*at, len(value))


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_every_node_of_the_corpus_is_where_the_tree_says(path: Path) -> None:
    text = path.read_text()
    try:
        data = parse_text(text, path).data
    except Exception:
        pytest.skip("not a file the loader reads")
    every = list(paths(data))
    answers = tree(text)
    for at in every[:: max(1, len(every) // PATHS_A_FILE)]:
        walked = event_position(text, at)
        assert walked is None or walked == answers.position(at), at


scalars = st.one_of(st.integers(-5, 5), st.text("ab: -#", max_size=4), st.booleans(), st.none())
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text("abk1", max_size=3), inner, max_size=3)
    ),
    max_leaves=12,
)
BLOCK = YAML(typ="safe", pure=True)
BLOCK.default_flow_style = False
parts = st.lists(st.one_of(st.sampled_from(["a", "b", "k", "ab", "1"]), st.integers(-1, 3)), max_size=4)


@given(document=documents, at=parts, flow=st.booleans())
def test_any_path_of_any_document_is_where_the_tree_says(document: Any, at: list[str | int], flow: bool) -> None:
    """Block and flow styles (JSON is YAML's flow style), keys that look like numbers, missing parts."""
    if flow:
        text = json.dumps(document)
    else:
        out = io.StringIO()
        BLOCK.dump(document, out)
        text = out.getvalue()
    walked = event_position(text, tuple(at))
    assert walked == tree_position(text, tuple(at))


def test_an_alias_on_the_way_is_left_to_the_tree() -> None:
    text = "base: &b {x: 1}\nuse: *b\n"
    assert event_position(text, ("use", "x")) is None
    assert tree_position(text, ("use", "x")) == (1, 11)
    assert event_position(text, ("base", "x")) == tree_position(text, ("base", "x")) == (1, 11)


def test_text_that_does_not_parse_is_left_to_the_tree() -> None:
    assert event_position("a: [1, 2\nb: 3\n", ("b",)) is None
