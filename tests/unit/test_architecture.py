"""The package's layers, checked from its source with the standard library's ``ast`` (issue 9).

Each module may import only from its own layer or the layers below it, never from above, and no
two modules import each other in a cycle. Adapter kinds are independent of each other. The public
API is pinned: an embedding program relies on these names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import naftiko_runtime

PACKAGE = Path(naftiko_runtime.__file__).parent
NAME = "naftiko_runtime"

LAYERS = (
    ("version", "settings", "extras", "records", "lean_imports"),
    ("spec",),
    ("core",),
    ("adapters",),
    ("serving",),
    ("__init__",),
    ("conformance", "importing"),
    ("cli", "__main__"),
)
"""Lowest first. A module's layer is that of its first name below the package."""
INDEPENDENT = ("adapters.rest", "adapters.mcp", "adapters.control")
"""Adapter kinds that must not import one another: a kind is one folder plus a registry entry."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, module: str) -> set[str]:
    """Every package module ``module`` imports, at the top or inside a function (lazy imports count)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith(NAME))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith(NAME):
                found.add(target)
                found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def package_graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for module, path in modules.items():
        graph[module] = {target for target in imports_of(path, module) if target in modules and target != module}
    return graph


def layer_of(module: str) -> int:
    rest = module.split(".")[1:] or ["__init__"]
    for index, names in enumerate(LAYERS):
        if rest[0] in names:
            return index
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        for target in targets
        if layer_of(target) > layer_of(module)
    )


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan, iterative enough for ~60 nodes)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def kind_crossings(graph: dict[str, set[str]]) -> list[str]:
    prefixes = [f"{NAME}.{kind}" for kind in INDEPENDENT]
    return sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        for target in targets
        for a in prefixes
        for b in prefixes
        if a != b and module.startswith(a) and target.startswith(b)
    )


def test_no_module_imports_from_a_higher_layer():
    assert upward_imports(package_graph()) == []


def test_no_import_cycles():
    assert cycles(package_graph()) == []


def test_adapter_kinds_do_not_import_each_other():
    assert kind_crossings(package_graph()) == []


def test_every_module_has_a_layer():
    for module in package_graph():
        layer_of(module)


@pytest.mark.parametrize(
    "graph, upward, cyclic",
    [
        ({f"{NAME}.spec.model": {f"{NAME}.core.plans"}, f"{NAME}.core.plans": set()}, 1, 0),
        ({f"{NAME}.core.a": {f"{NAME}.core.b"}, f"{NAME}.core.b": {f"{NAME}.core.a"}}, 0, 1),
        ({f"{NAME}.serving.x": {f"{NAME}.spec.y"}, f"{NAME}.spec.y": set()}, 0, 0),
    ],
)
def test_the_checks_catch_what_they_look_for(graph, upward, cyclic):
    """The checks above would pass vacuously if they could not see a violation: show that they do."""
    assert len(upward_imports(graph)) == upward
    assert len(cycles(graph)) == cyclic


def test_relative_imports_are_resolved_to_package_modules():
    source = PACKAGE / "adapters" / "rest" / "kind.py"
    found = imports_of(source, f"{NAME}.adapters.rest.kind")
    assert f"{NAME}.spec.builder" in found and f"{NAME}.adapters.base" in found


def test_public_api_is_pinned():
    assert naftiko_runtime.__all__ == [
        "Diagnostic",
        "FileReport",
        "Loaded",
        "PortUnavailable",
        "Runtime",
        "Settings",
        "Severity",
        "__version__",
        "load",
        "serve",
    ]
    for name in naftiko_runtime.__all__:
        assert getattr(naftiko_runtime, name) is not None


def test_cli_defaults_come_from_settings_only():
    """Issue 9: argparse holds no default of its own; an untouched command line is ``Settings()``."""
    from naftiko_runtime.cli import parser, settings_from

    args = parser().parse_args(["serve", "x.yaml"])
    assert settings_from(args) == naftiko_runtime.Settings()
    given = settings_from(
        parser().parse_args(["serve", "x.yaml", "--timeout", "7", "--workers", "2", "--base-uri", "ns=http://h:1"])
    )
    assert (given.total_timeout, given.workers, given.base_uris) == (7.0, 2, {"ns": "http://h:1"})
