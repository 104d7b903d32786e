"""Issue 11, item 2: imports and shared files (CONTRACT D71).

Resolution relative to the importing file, ``as`` aliases, each problem positioned in the file
that has it (the importer for a missing file, a cycle, an alias clash or an unknown namespace;
the imported file for what is wrong inside the entry), ``--base-uri`` for imported namespaces,
and standalone shared files validated on their own (`naftiko validate` as a subprocess:
tests/integration/test_imports_cli.py). The conformance suite's ``imports`` area
covers the same ground through serving; these tests pin the details.
"""

from __future__ import annotations

from pathlib import Path

from naftiko_runtime import Settings, load
from naftiko_runtime.spec.imports import Composer, prepare
from naftiko_runtime.spec.source import read_source

REGISTRY = """\
ikanos: 1.0.0-beta4
consumes:
- type: http
  namespace: registry
  baseUri: http://registry.invalid/v1
  resources:
    ships:
      path: /ships
      operations:
        list: {method: GET}
"""


def capability(consumes: str, extra: str = "") -> str:
    return f"""\
ikanos: 1.0.0-beta4
capability:
  consumes:
{consumes}
  exposes:
  - type: mcp
    namespace: ships-mcp
    port: 9090
    tools:
      list-ships: {{description: All ships., call: {extra or "registry"}.list}}
"""


def write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")


def validate(folder: Path, *names: str, **settings) -> list[str]:
    loaded = load([folder / n for n in names], Settings(**settings), {})
    return [str(d).replace(str(folder) + "/", "") for d in loaded.diagnostics]


def test_imported_entry_is_spliced_with_its_alias(tmp_path):
    write(
        tmp_path,
        {
            "shared/registry.yaml": REGISTRY,
            "cap.yaml": capability("  - {import: registry, from: shared/registry.yaml, as: fleet}", "fleet"),
        },
    )
    loaded = load([tmp_path / "cap.yaml"], Settings(), {})
    assert loaded.diagnostics == []
    [report] = loaded.reports
    assert report.loaded is not None
    assert list(report.loaded.capability.consumes) == ["fleet"]
    plan = report.loaded.plans["ships-mcp"]["list-ships"]
    assert plan.steps[0].call.base_uri == "http://registry.invalid/v1"


def test_base_uri_override_reaches_imported_and_aliased_namespaces(tmp_path):
    """D18 for imported namespaces: the override names the namespace as this capability calls it."""
    write(
        tmp_path,
        {
            "shared/registry.yaml": REGISTRY,
            "cap.yaml": capability("  - {import: registry, from: shared/registry.yaml, as: fleet}", "fleet"),
        },
    )
    loaded = load([tmp_path / "cap.yaml"], Settings(base_uris={"fleet": "http://127.0.0.1:4010/mock"}), {})
    plan = loaded.reports[0].loaded.plans["ships-mcp"]["list-ships"]
    assert plan.steps[0].call.base_uri == "http://127.0.0.1:4010/mock"


def test_error_inside_the_imported_entry_is_positioned_in_the_imported_file(tmp_path):
    broken = REGISTRY.replace("http://registry.invalid/v1", "ftp://registry.invalid")
    write(
        tmp_path,
        {
            "shared/registry.yaml": broken,
            "cap.yaml": capability("  - {import: registry, from: ./shared/registry.yaml}"),
        },
    )
    lines = validate(tmp_path, "cap.yaml")
    assert any(line.startswith("shared/registry.yaml:5:3: error:") and "ftp://" in line for line in lines), lines


def test_alias_clashing_with_an_inline_namespace_points_at_the_alias(tmp_path):
    inline = "  - {type: http, namespace: fleet, baseUri: 'http://x.invalid'}\n"
    write(
        tmp_path,
        {
            "shared/registry.yaml": REGISTRY,
            "cap.yaml": capability(inline + "  - {import: registry, from: shared/registry.yaml, as: fleet}", "fleet"),
        },
    )
    lines = validate(tmp_path, "cap.yaml")
    assert any(
        line.startswith("cap.yaml:5:52: error:") and "duplicate consumes namespace 'fleet'" in line for line in lines
    ), lines


def test_transitive_import_and_cycle_through_two_files(tmp_path):
    """Imports are not transitive (the spec: a source file is a leaf); a loop back is a cycle."""
    other = capability("  - {import: registry, from: ./cap.yaml}")
    write(tmp_path, {"other.yaml": other, "cap.yaml": capability("  - {import: registry, from: ./other.yaml}")})
    lines = validate(tmp_path, "cap.yaml")
    assert any(line.startswith("cap.yaml:4:6: error: import cycle") for line in lines), lines
    write(
        tmp_path,
        {
            "shared/registry.yaml": REGISTRY,
            "middle.yaml": capability("  - {import: registry, from: shared/registry.yaml}"),
            "cap.yaml": capability("  - {import: registry, from: ./middle.yaml}"),
        },
    )
    lines = validate(tmp_path, "cap.yaml")
    assert any(line.startswith("cap.yaml:4:6: error:") and "not transitive" in line for line in lines), lines


def test_imported_bind_location_is_relative_to_the_imported_file(tmp_path):
    binds = (
        "ikanos: 1.0.0-beta4\nbinds:\n- {namespace: vault, location: 'file:///./secrets.yaml', keys: {TOKEN: token}}\n"
    )
    registry = REGISTRY.replace("  baseUri:", "  authentication: {type: bearer, token: '{{TOKEN}}'}\n  baseUri:")
    cap = capability("  - {import: registry, from: shared/registry.yaml}").replace(
        "capability:\n", "capability:\n  binds:\n  - {import: vault, from: shared/binds.yaml}\n"
    )
    write(
        tmp_path,
        {
            "shared/binds.yaml": binds,
            "shared/secrets.yaml": "token: tok-1234\n",
            "shared/registry.yaml": registry,
            "cap.yaml": cap,
        },
    )
    loaded = load([tmp_path / "cap.yaml"], Settings(), {})
    assert loaded.diagnostics == []
    assert loaded.secrets == ["tok-1234"]


def test_each_imported_file_is_read_once_per_load(tmp_path):
    write(
        tmp_path,
        {
            "shared/registry.yaml": REGISTRY,
            "a.yaml": capability("  - {import: registry, from: shared/registry.yaml}"),
            "b.yaml": capability("  - {import: registry, from: shared/registry.yaml, as: r2}", "r2"),
        },
    )
    reads: list[Path] = []

    def read(path: Path):
        reads.append(path)
        return read_source(path)

    composer = Composer(read)
    for name in ("a.yaml", "b.yaml"):
        composer.compose(prepare(read_source(tmp_path / name)))
    assert reads == [(tmp_path / "shared/registry.yaml").resolve()]


def test_shared_file_problems_are_reported_once_when_also_named(tmp_path):
    broken = REGISTRY.replace("list: {method: GET}", "list: {method: GET, colour: red}")
    write(
        tmp_path,
        {"shared/registry.yaml": broken, "cap.yaml": capability("  - {import: registry, from: shared/registry.yaml}")},
    )
    lines = validate(tmp_path, "cap.yaml", "shared/registry.yaml")
    assert sum("colour" in line for line in lines) == 1, lines


def test_alpha2_shared_file_warnings_become_errors_under_strict(tmp_path):
    """D3 warnings of an imported alpha2 file follow --strict like the importer's own."""
    alpha2 = (
        "naftiko: 1.0.0-alpha2\nconsumes:\n- type: http\n  namespace: registry\n"
        "  baseUri: http://registry.invalid\n  colour: red\n  resources:\n"
        "  - {name: ships, path: /ships, operations: [{name: list, method: GET}]}\n"
    )
    write(
        tmp_path,
        {
            "shared/registry.yaml": alpha2,
            "cap.yaml": capability("  - {import: registry, location: shared/registry.yaml}"),
        },
    )
    assert any(": warning: " in line and "colour" in line for line in validate(tmp_path, "cap.yaml"))
    assert any(": error: " in line and "colour" in line for line in validate(tmp_path, "cap.yaml", strict=True))
