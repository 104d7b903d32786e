"""Issue 4: the conformance suite, run the way CI runs it, in-process and as a black box.

- the whole suite in-process: no case may fail or error (not-implemented ones are counted apart);
- black-box mode: a handful of cases against `naftiko serve` / `naftiko validate` started as
  subprocesses from their command lines;
- mutation checks: breaking one behaviour of the runtime makes named cases fail, which shows the
  suite measures what it claims to.
"""

from __future__ import annotations

import io
import json
import shlex
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
from support import ROOT

from naftiko_runtime.conformance import command
from naftiko_runtime.conformance.cases import load_cases
from naftiko_runtime.conformance.drivers import BlackBoxDriver, InProcessDriver
from naftiko_runtime.conformance.runner import ERROR, FAIL, NOT_IMPLEMENTED, PASS
from naftiko_runtime.extras import EXTRAS

SUITE = ROOT / "conformance"
NAFTIKO = shlex.quote(str(Path(sys.executable).parent / "naftiko"))


def run(filters=(), driver=None, paths=(SUITE,)):
    out = io.StringIO()
    results = command.run(list(paths), driver or InProcessDriver(), filters, out=out)
    return {r.case.id: r for r in results}, out.getvalue()


AREAS = sorted(folder.name for folder in (SUITE / "cases").iterdir() if folder.is_dir())


def test_the_areas_hold_the_whole_suite():
    """The suite runs one area a test (below, so xdist spreads it): no case may fall outside them."""
    cases = load_cases([SUITE])
    assert len(cases) >= 120
    assert {case.area for case in cases} <= set(AREAS)


@pytest.mark.slow
@pytest.mark.parametrize("area", AREAS)
def test_each_area_in_process_has_no_failure(area):
    results, output = run(paths=[SUITE / "cases" / area])
    assert results
    bad = {i: r.messages for i, r in results.items() if r.status in (FAIL, ERROR)}
    assert not bad, output
    table = command.table(list(results.values()))
    print(table)
    # Every feature the cases name is implemented now: a NOT-IMPLEMENTED here is a lost feature,
    # unless its optional extra is not installed (the no-extras run of .ci/run, issue 19).
    absent = {extra.feature for extra in EXTRAS if not extra.installed()}
    not_run = {i: r.missing for i, r in results.items() if r.status != PASS}
    assert all(set(missing) <= absent for missing in not_run.values()), table


BLACK_BOX = [
    "consumed/path-value-slash-is-one-segment",
    "consumed/query-array-is-exploded",
    "auth/digest-answers-a-real-challenge",
    "rest/slow-upstream-is-504",
    "rest/oversized-body-is-413",
    "binds/json-file-relative-to-capability",
    "mcp/tools-call-structured-and-text",
    "loading/unknown-key-is-a-warning-with-position",
    "loading/invalid-file-binds-no-port",
    "multi-file/route-conflict-names-both-files",
    "formats/binary-bytes-pass-through-rest",
    "auth/oauth2-valid-token-passes-and-is-not-forwarded",
    "auth/oauth2-wrong-key-is-401",
    "auth/exposed-digest-answers-a-challenge",
]


UNCLAIMED = "formats/binary-bytes-pass-through-rest"
"""A feature the black-box driver does not claim: the case is reported, never run."""


@pytest.mark.slow
@pytest.mark.parametrize("case", BLACK_BOX)
def test_black_box_mode_against_naftiko_serve_subprocess(case):
    """The runtime started from its own command line, one process per case, stopped with SIGTERM."""
    from naftiko_runtime.serving.features import IMPLEMENTED

    driver = BlackBoxDriver(
        f"{NAFTIKO} serve {{capability}} --log-level WARNING",
        f"{NAFTIKO} validate {{capability}}",
        set(IMPLEMENTED) - {"binary"},
    )
    results, output = run([case], driver)
    # The case also runs rewritten into the beta4 dialect (issue 11, D70), with the same outcome.
    assert case in results and set(results) <= {case, case + "@beta4"}, output
    expected = NOT_IMPLEMENTED if case == UNCLAIMED else PASS
    assert {i: r.status for i, r in results.items()} == dict.fromkeys(results, expected), output


def test_command_line_writes_reports_and_exit_code(tmp_path, capsys):
    junit, report = tmp_path / "junit.xml", tmp_path / "report.json"
    unclaimed = tmp_path / "cases" / "demo" / "unclaimed.yaml"
    unclaimed.parent.mkdir(parents=True)
    unclaimed.write_text(f"""
id: never-implemented
features: [rest, a-feature-no-runtime-claims]
capability: {{file: {SUITE / "capabilities" / "items.yaml"}}}
request: {{path: /items/7}}
upstream: [{{method: GET, path: /api/items/7}}]
expect: {{status: 200}}
""")
    code = command.main(
        [
            str(SUITE / "cases" / "rest"),
            str(SUITE / "cases" / "bodies"),
            str(unclaimed),
            "--junit",
            str(junit),
            "--json",
            str(report),
            "-k",
            "404",
            "-k",
            "multipart",
            "-k",
            "never-implemented",
        ]
    )
    output = capsys.readouterr().out
    assert code == 0, output
    assert "feature" in output and "not-impl" in output
    suite = ElementTree.parse(junit).getroot()
    # Each case and its beta4 twin (issue 11: every alpha2 case also runs rewritten into beta4).
    assert suite.get("tests") == "6" and suite.get("skipped") == "2" and suite.get("failures") == "0"
    document = json.loads(report.read_text())
    assert document["features"]["a-feature-no-runtime-claims"]["not_implemented"] == 2
    assert document["features"]["bodies.multipart"]["passed"] == 2
    assert {c["status"] for c in document["cases"]} == {PASS, NOT_IMPLEMENTED}


def test_a_failing_case_gives_a_precise_diff_and_exit_1(tmp_path, capsys):
    case = tmp_path / "cases" / "demo" / "wrong.yaml"
    case.parent.mkdir(parents=True)
    case.write_text(f"""
id: expects-the-wrong-path
features: [rest, simple]
capability: {{file: {SUITE / "capabilities" / "items.yaml"}}}
request: {{path: /items/7}}
upstream: [{{method: GET, path: /api/items/8}}]
expect: {{status: 200}}
""")
    assert command.main([str(tmp_path)]) == 1
    output = capsys.readouterr().out
    assert "FAIL            demo/expects-the-wrong-path" in output
    assert 'path: expected "/api/items/8", got "/api/items/7"' in output


@pytest.fixture
def broken_percent_encoding(monkeypatch):
    from naftiko_runtime.core import requests

    monkeypatch.setattr(requests, "quote", lambda text, safe="": text)


@pytest.fixture
def broken_dash_underscore(monkeypatch):
    import naftiko_runtime

    for name in list(sys.modules):
        module = sys.modules[name]
        if name.startswith("naftiko_runtime") and hasattr(module, "normalize_name"):
            monkeypatch.setattr(module, "normalize_name", lambda text: text)
    assert naftiko_runtime


def test_mutation_no_path_percent_encoding_is_caught(broken_percent_encoding):
    results, output = run(["consumed/path-value", "mcp/tools-and-mcp-aliases"])
    failed = {i for i, r in results.items() if r.status == FAIL}
    assert {
        "consumed/path-value-slash-is-one-segment",
        "consumed/path-value-space-and-question-mark",
        "mcp/tools-and-mcp-aliases-and-namespace-reference",
    } <= failed, output


def test_mutation_no_dash_underscore_matching_is_caught(broken_dash_underscore):
    results, output = run(["inputs/dash-underscore", "inputs/missing-required"])
    assert results["inputs/dash-underscore-names-match"].status == FAIL, output
