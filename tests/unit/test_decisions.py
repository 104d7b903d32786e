"""Issue 19, item 6: docs/decisions.md records every decision the code cites, and names only
files that exist. Runs in-process and opens no socket."""

from __future__ import annotations

import re

from support import ROOT

DECISIONS = ROOT / "docs" / "decisions.md"
CITING = ("naftiko_runtime", "tests", "conformance", "benchmarks")
CITATION = re.compile(r"\bD[0-9]+[a-z]?\b")
RECORD = re.compile(r"^### (D[0-9]+[a-z]?)(?: and (D[0-9]+[a-z]?))?\b", re.MULTILINE)
PATH = re.compile(r"`((?:naftiko_runtime|tests|conformance|benchmarks|deploy|docs|examples)/[^`\s]*)`")
# A repository path, written as a code span: the site is built from docs/ alone (a link out of it
# would not resolve).


def cited() -> dict[str, set[str]]:
    """Each D-number the code, tests, conformance cases and benchmarks cite, with where."""
    found: dict[str, set[str]] = {}
    for folder in CITING:
        for path in (ROOT / folder).rglob("*"):
            if not path.is_file() or "__pycache__" in path.parts or path.suffix in (".pyc", ".avro", ".pb"):
                continue
            for number in CITATION.findall(path.read_text(errors="ignore")):
                found.setdefault(number, set()).add(str(path.relative_to(ROOT)))
    return found


def recorded() -> set[str]:
    return {number for pair in RECORD.findall(DECISIONS.read_text()) for number in pair if number}


def test_every_cited_decision_is_recorded():
    missing = {number: sorted(where)[:3] for number, where in cited().items() if number not in recorded()}
    assert not missing, f"cited but not recorded in docs/decisions.md: {missing}"


def test_the_decisions_the_closing_notes_asked_for_are_recorded():
    assert {"D74", "D75", "D76", "D77", "D93", "D94", "D95"} <= recorded()


def test_every_path_the_record_names_exists():
    paths = PATH.findall(DECISIONS.read_text())
    assert len(paths) > 150
    missing = [path for path in paths if not (ROOT / path).exists()]
    assert not missing, missing


def test_each_decision_is_recorded_once_with_a_statement():
    text = DECISIONS.read_text()
    headings = RECORD.findall(text)
    numbers = [number for pair in headings for number in pair if number]
    assert len(numbers) == len(set(numbers)), "a decision recorded twice"
    for section in re.split(r"^### ", text, flags=re.MULTILINE)[1:]:
        statement = section.split("\n- ", 1)[0].split("\n", 1)[1].strip()
        assert statement.count(".") >= 1 and len(statement) > 80, section[:40]
