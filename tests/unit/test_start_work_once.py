"""Issue 22 item 2 (D184): work a start repeats for the same input is done once, and answers as
before: a route's path split once for its file, its claim and its route table; a ``with`` text
classified once for every operation naming it, per adapter roots; route-table nodes made only when
new; a reload's kept files looked up in a set."""

from __future__ import annotations

from pathlib import Path

import pytest

from naftiko_runtime.adapters.rest.routing import Match, PathTemplateError, RouteTable, split_template
from naftiko_runtime.serving.reloading import FileSet
from naftiko_runtime.settings import Settings
from naftiko_runtime.spec.expressions import InputReference, Literal, Template, with_source


def test_a_split_path_answers_the_same_and_a_bad_one_is_refused_every_time():
    assert split_template("/syncs/{sync-id}/runs") == (("syncs", None, "runs"), (None, "sync-id", None))
    assert split_template("/syncs/{sync-id}/runs") is split_template("/syncs/{sync-id}/runs")
    assert split_template("/") == ((), ())
    for _ in range(2):  # an error is never remembered as an answer
        with pytest.raises(PathTemplateError, match="a placeholder must be a whole path segment"):
            split_template("/syncs/x{id}")


def test_a_with_text_is_classified_by_the_roots_it_is_read_with():
    """The same text is a reference for one adapter and literal text for another: what is kept
    is kept per roots and per form (a consumed parameter's ``value`` takes only ``$this.``)."""
    assert with_source("rest.sync_id", ("rest",)) == InputReference("sync_id")
    assert with_source("rest.sync_id", ("tools",)) == Literal("rest.sync_id")
    assert with_source("rest.sync_id", ("rest",), plain_references=False) == Literal("rest.sync_id")
    assert with_source("$this.rest.sync_id", ("rest",), plain_references=False) == InputReference("sync_id")
    assert with_source("{{sync_id}}", ("rest",)) == Template.parse("{{sync_id}}")
    assert with_source(["rest.sync_id"], ("rest",)) == Literal(["rest.sync_id"])  # unhashable: not kept


def test_routes_sharing_segments_each_keep_their_target():
    routes: RouteTable[str] = RouteTable()
    routes.add("GET", "/api/syncs", "list")
    routes.add("GET", "/api/syncs/{id}", "get")
    routes.add("POST", "/api/syncs", "create")
    routes.add("GET", "/api/models/{id}", "model")
    assert routes.match("GET", "/api/syncs") == Match("list", {})
    assert routes.match("POST", "/api/syncs") == Match("create", {})
    assert routes.match("GET", "/api/syncs/7") == Match("get", {"id": "7"})
    assert routes.match("GET", "/api/models/m") == Match("model", {"id": "m"})
    assert routes.targets() == ["list", "get", "create", "model"]


def _capability(path: Path, namespace: str, *, valid: bool = True) -> Path:
    call = f"{namespace}-api.list" if valid else "nowhere.list"
    path.write_text(f"""
naftiko: 1.0.0-alpha2
info: {{label: {namespace}}}
capability:
  consumes:
  - type: http
    namespace: {namespace}-api
    baseUri: http://127.0.0.1:9
    resources:
    - name: things
      path: /things
      operations:
      - name: list
        method: GET
  exposes:
  - type: rest
    namespace: {namespace}
    port: 9310
    resources:
    - path: /{namespace}
      operations:
      - method: GET
        call: {call}
""")
    return path


def _served(loaded) -> set[str]:
    return {report.loaded.capability.label for report in loaded.reports if report.loaded}


def test_a_reload_forgets_the_last_good_version_of_a_removed_file_only(tmp_path: Path):
    """Of many files, one made invalid keeps serving its last good version; one removed is
    forgotten, so when it comes back invalid it is a new invalid file, left out."""
    names = [f"c{i}" for i in range(40)]
    for name in names:
        _capability(tmp_path / f"{name}.yml", name)
    files = FileSet([tmp_path], Settings(load_cache="off"))
    assert _served(files()) == set(names)
    _capability(tmp_path / "c3.yml", "c3", valid=False)
    (tmp_path / "c5.yml").unlink()
    assert _served(files()) == set(names) - {"c5"}  # c3 served as it was
    _capability(tmp_path / "c5.yml", "c5", valid=False)
    assert _served(files()) == set(names) - {"c5"}


def test_a_call_with_arguments_is_the_call_replaced_field_for_field():
    """``UpstreamCall.with_arguments`` makes what ``dataclasses.replace`` made: every field kept
    (a field added to the class and not to the method would fail here), the arguments changed."""
    import dataclasses

    from naftiko_runtime.core.plans import UpstreamCall

    values = {each.name: object() for each in dataclasses.fields(UpstreamCall)}
    call = UpstreamCall(**values)
    arguments = (object(),)
    made = call.with_arguments(arguments)  # type: ignore[arg-type]
    assert made == dataclasses.replace(call, arguments=arguments)
    assert made.arguments is arguments and made is not call
