"""Issue 2, acceptance 3: `naftiko validate` as a user runs it, a real subprocess (D1-D5, D13, D32)."""

from __future__ import annotations

import re

from support import API_KEY, CAPABILITIES, ROOT, naftiko

FIXTURES = ROOT / "tests" / "fixtures"
POSITIONED = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<severity>error|warning): (?P<message>.+)$")


def diagnostics(output: str) -> list[re.Match]:
    return [m for line in output.splitlines() if (m := POSITIONED.match(line))]


def test_polytomic_files_are_valid_without_warnings():
    result = naftiko("validate", *map(str, CAPABILITIES), env={"POLYTOMIC_API_KEY": API_KEY})
    assert result.returncode == 0, result.stdout + result.stderr
    assert diagnostics(result.stdout) == []
    assert "2 of 2 files valid; 0 errors, 0 warnings" in result.stdout
    assert API_KEY not in result.stdout + result.stderr


def test_bad_yaml_names_line_and_column():
    result = naftiko("validate", str(FIXTURES / "bad-yaml.yml"))
    assert result.returncode == 1
    [found] = diagnostics(result.stdout)
    assert found["file"].endswith("bad-yaml.yml") and found["severity"] == "error"
    assert (found["line"], found["col"]) == ("7", "5")
    assert "invalid YAML" in found["message"]


def test_all_problems_of_a_file_are_reported_at_once():
    """D4: the unresolved call, the non-http baseUri and the unknown template variable."""
    result = naftiko("validate", str(FIXTURES / "missing-call.yml"))
    assert result.returncode == 1
    errors = {(m["line"], m["message"].split(" ")[0]) for m in diagnostics(result.stdout) if m["severity"] == "error"}
    messages = " | ".join(m["message"] for m in diagnostics(result.stdout))
    assert ("9", "baseUri") in errors, messages
    assert ("24", "call") in errors, messages
    assert ("26", "'{{nowhere}}'") in errors, messages
    assert "api.list" in messages, "the known operations are suggested"


def test_route_conflict_names_both_files():
    """D32: same method and path shape (placeholder names ignored) on one port."""
    result = naftiko("validate", str(FIXTURES / "conflict-a.yml"), str(FIXTURES / "conflict-b.yml"))
    assert result.returncode == 1
    [found] = [m for m in diagnostics(result.stdout) if m["severity"] == "error"]
    assert found["file"].endswith("conflict-b.yml") and found["line"] == "23"
    assert re.search(r"conflict-a\.yml:23:9", found["message"]), found["message"]


def test_unknown_adapter_type_is_an_error_naming_it():
    result = naftiko("validate", str(FIXTURES / "unknown-adapter.yml"))
    assert result.returncode == 1
    errors = [m for m in diagnostics(result.stdout) if m["severity"] == "error"]
    assert any(m["line"] == "17" and "grpc" in m["message"] for m in errors), result.stdout


def test_unknown_key_is_a_warning_and_an_error_under_strict():
    """D3: never silently ignored; a warning by default, an error under --strict."""
    result = naftiko("validate", str(FIXTURES / "unknown-key.yml"))
    assert result.returncode == 0, result.stdout
    [found] = diagnostics(result.stdout)
    assert (found["severity"], found["line"]) == ("warning", "25")
    assert "timeuot" in found["message"]
    strict = naftiko("validate", "--strict", str(FIXTURES / "unknown-key.yml"))
    assert strict.returncode == 1
    assert [m["severity"] for m in diagnostics(strict.stdout)] == ["error"]


def test_unset_bind_variable_is_a_positioned_warning():
    """D13: names the variable and where it is used; fatal under --strict."""
    result = naftiko("validate", str(CAPABILITIES[0]))
    assert result.returncode == 0
    [found] = diagnostics(result.stdout)
    assert found["severity"] == "warning" and found["line"] == "14"
    assert "POLYTOMIC_API_KEY" in found["message"] and "authentication.token" in found["message"]
    assert naftiko("validate", "--strict", str(CAPABILITIES[0])).returncode == 1


def test_routes_lists_every_route_and_tool():
    result = naftiko("routes", *map(str, CAPABILITIES), env={"POLYTOMIC_API_KEY": API_KEY})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert sum(" rest " in f" {line} " for line in lines) == 23
    assert any("GET /v1/api/syncs/{id}" in line and "polytomic-subpackage-modelsync.get" in line for line in lines)


def test_help_and_version():
    for command in ([], ["serve"], ["validate"], ["routes"]):
        assert naftiko(*command, "--help").returncode == 0
    assert naftiko("--version").stdout.startswith("naftiko-runtime ")


def test_header_names_that_http_cannot_carry_are_positioned_errors(tmp_path):
    """Found by the dialect properties: a header parameter or apikey header named with a space or a
    non-Latin-1 letter used to crash the loader (UnicodeEncodeError); it is refused at its line."""
    path = tmp_path / "headers.yml"
    path.write_text(
        """naftiko: 1.0.0-alpha2
info: {label: Headers, description: Header names.}
capability:
  consumes:
  - type: http
    namespace: api
    baseUri: http://127.0.0.1:9
    authentication: {type: apikey, key: "X Key", value: v, placement: header}
    resources:
    - name: a
      path: /a
      operations:
      - {name: get, method: GET, inputParameters: [{name: "ĸ", in: header}]}
  exposes:
  - type: rest
    namespace: api-rest
    port: 8080
    resources:
    - path: /a
      operations:
      - method: GET
        call: api.get
        inputParameters: [{name: "Tab\\tName", in: header}]
"""
    )
    result = naftiko("validate", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    found = {(m["line"], m["message"].split(" name ")[0]) for m in diagnostics(result.stdout)}
    assert {("8", "apikey header"), ("13", "header parameter"), ("23", "header parameter")} <= found, result.stdout
