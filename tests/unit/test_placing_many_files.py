"""Issue 22 item 2: placing N files on their ports is linear (owned prefixes looked up by a route's
own leading segments; a new adapter's authentication compared with the first of its kind on the
port), and finds every conflict the pairwise comparison found (D32, D90); loading pauses the cyclic
collector and gives it back as it found it (D139)."""

from __future__ import annotations

import gc
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from naftiko_runtime.adapters.base import Claim
from naftiko_runtime.serving.listeners import Claimed, _owners_over, _shadows
from naftiko_runtime.serving.loading import collector_paused, load
from naftiko_runtime.settings import Settings

SEGMENTS = st.sampled_from(["mcp", "a", "b", None])


def capability(path: Path, namespace: str, rest_path: str, auth: str = "") -> Path:
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
  - type: mcp
    namespace: {namespace}
    description: Tools of {namespace}.
    port: 9300
    tools:
    - name: {namespace}-list
      description: List things.
      call: {namespace}-api.list
  - type: rest
    namespace: {namespace}-rest
    port: 9300{auth}
    resources:
    - path: {rest_path}
      operations:
      - method: GET
        call: {namespace}-api.list
""")
    return path


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    st.lists(st.tuples(st.lists(SEGMENTS.filter(bool), max_size=3)), max_size=6),
    st.one_of(st.none(), st.lists(SEGMENTS, max_size=4)),
)
def test_owners_looked_up_by_prefix_are_exactly_those_that_shadow_the_route(prefixes, route) -> None:
    owners: dict[tuple[str | None, ...], list[Claimed]] = {}
    every = []
    for index, (prefix,) in enumerate(prefixes):
        entry = Claimed(Claim(("p", index), (), f"owner {index}", prefix=tuple(prefix)), None)  # type: ignore[arg-type]
        owners.setdefault(entry.claim.prefix or (), []).append(entry)
        every.append(entry)
    claim = Claim(("r",), (), "route", route=None if route is None else tuple(route))
    found = _owners_over(owners, claim)
    assert sorted(e.claim.label for e in found) == sorted(e.claim.label for e in every if _shadows(e.claim, claim))


def test_a_route_under_mcp_in_a_later_file_collides_with_the_endpoint_of_earlier_files(tmp_path) -> None:
    files = [capability(tmp_path / f"c{i}.yml", f"ns{i}", f"/ns{i}/things") for i in range(4)]
    files.append(capability(tmp_path / "late.yml", "late", "/mcp/late"))
    loaded = load(files, Settings())
    assert [report.path.name for report in loaded.rejected] == ["late.yml"]
    messages = [str(d) for d in loaded.diagnostics]
    assert any("late.yml:" in m and "collides with the MCP endpoint" in m for m in messages), messages


def test_a_later_file_must_share_the_authentication_of_the_adapters_already_on_the_port(tmp_path) -> None:
    apikey = "\n    authentication: {type: apikey, key: X-Key, value: k-123456789, placement: header}"
    bearer = "\n    authentication: {type: bearer, token: k-123456789}"
    files = [capability(tmp_path / f"c{i}.yml", f"ns{i}", f"/ns{i}/things", apikey) for i in range(3)]
    files.append(capability(tmp_path / "other.yml", "other", "/other/things", bearer))
    files.append(capability(tmp_path / "same.yml", "same", "/same/things", apikey))
    loaded = load(files, Settings())
    assert [report.path.name for report in loaded.rejected] == ["other.yml"]
    assert any("must declare the same authentication" in str(d) for d in loaded.diagnostics)


def test_loading_pauses_the_collector_and_restores_it() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
