"""The control port's ``management.scripting`` governance (issue 20, item 6), with the semantics
the engine's schema gives it: ``defaultLanguage``/``defaultLocation`` for steps that omit theirs,
``allowedLanguages`` refusing a step's language by name at its line, ``timeout`` (ms) bounding a
script (never beyond ``--script-timeout``), ``enabled: false`` failing every script step at once,
and ``statementLimit`` accepted with a warning (QuickJS counts no statements)."""

from __future__ import annotations

import httpx
from support import running_gateway
from test_composition import MAIN_JS, crew_total

from naftiko_runtime import Settings, load

GOVERNED = """\
naftiko: 1.0.0-alpha2
info: {label: Governed scripts, description: Script steps under the control port's governance.}
capability:
  consumes:
  - type: http
    namespace: registry
    baseUri: "UPSTREAM/api"
    resources: [{name: crew, path: /crew, operations: [{name: list-crew}]}]
  exposes:
  - type: rest
    namespace: fleet
    port: 8080
    resources:
    - path: "/script/{kind}"
      operations:
      - method: GET
        inputParameters: [{name: kind, in: path, type: string, description: Which script.}]
        steps:
        - {name: crew, type: call, call: registry.list-crew}
        - {name: calc, type: script, file: main.js, dependencies: [lib/helpers.js], with: {bonus: $.crew.total}}
        mappings: [{targetName: answer, value: $.calc}]
  - type: control
    port: 7070
    management:
      scripting: SCRIPTING
"""


def governed(tmp_path, upstream_url: str, scripting: str):
    (tmp_path / "scripts" / "lib").mkdir(parents=True, exist_ok=True)
    (tmp_path / "scripts" / "main.js").write_text(MAIN_JS)
    (tmp_path / "scripts" / "lib" / "helpers.js").write_text("function double(x) { return 2 * x; }\n")
    path = tmp_path / "governed.yaml"
    scripting = scripting.replace("LOCATION", (tmp_path / "scripts").as_uri())
    path.write_text(GOVERNED.replace("UPSTREAM", upstream_url).replace("SCRIPTING", scripting))
    return path


def diagnostics(path) -> list[str]:
    return [str(d) for d in load([path], Settings(), {}).diagnostics]


def test_defaults_run_a_step_that_omits_language_and_location_and_timeout_bounds_it(tmp_path, upstream):
    upstream.reset(crew_total)
    scripting = "{defaultLanguage: javascript, defaultLocation: 'LOCATION', timeout: 300}"
    path = governed(tmp_path, upstream.url, scripting)
    with running_gateway([path], {}, script_timeout=5.0) as gateway:
        base = gateway.url(8080) + "/script/"
        assert httpx.get(base + "sum", timeout=10).json() == {"answer": {"total": 15, "kind": "sum"}}
        looping = httpx.get(base + "loop", timeout=10)
        assert looping.status_code == 500
        assert looping.json()["detail"] == "step 'calc': the script ran longer than its limit of 0.3 s and was stopped"


def test_the_serve_limit_stays_a_ceiling(tmp_path, upstream):
    upstream.reset(crew_total)
    path = governed(
        tmp_path, upstream.url, "{defaultLanguage: javascript, defaultLocation: 'LOCATION', timeout: 60000}"
    )
    with running_gateway([path], {}, script_timeout=0.2) as gateway:
        looping = httpx.get(gateway.url(8080) + "/script/loop", timeout=10)
    assert looping.json()["detail"].endswith("its limit of 0.2 s and was stopped")


def test_disabled_scripting_fails_script_steps_at_once(tmp_path, upstream):
    upstream.reset(crew_total)
    path = governed(
        tmp_path, upstream.url, "{enabled: false, defaultLanguage: javascript, defaultLocation: 'LOCATION'}"
    )
    with running_gateway([path], {}) as gateway:
        answer = httpx.get(gateway.url(8080) + "/script/loop", timeout=10)
    assert answer.status_code == 500
    assert answer.json()["detail"] == (
        "step 'calc': script steps are disabled (the control adapter's scripting.enabled: false)"
    )


def test_a_language_outside_allowed_languages_is_refused_at_its_line(tmp_path, upstream):
    scripting = "{defaultLanguage: javascript, defaultLocation: 'LOCATION', allowedLanguages: [python]}"
    lines = diagnostics(governed(tmp_path, upstream.url, scripting))
    assert any(
        ":20:11: error: script language 'javascript' is not among the control adapter's scripting "
        "allowedLanguages (python)" in line
        for line in lines
    ), lines


def test_without_defaults_a_step_must_name_its_language_and_location(tmp_path, upstream):
    lines = diagnostics(governed(tmp_path, upstream.url, "{timeout: 1000}"))
    for key, default in (("language", "defaultLanguage"), ("location", "defaultLocation")):
        expected = f"a script step without '{key}': give the step its own, or set the control adapter's "
        assert any(expected + f"management.scripting '{default}'" in line for line in lines), lines


def test_statement_limit_loads_with_a_warning(tmp_path, upstream):
    scripting = "{defaultLanguage: javascript, defaultLocation: 'LOCATION', statementLimit: 1000}"
    loaded = load([governed(tmp_path, upstream.url, scripting)], Settings(), {})
    assert not loaded.rejected
    assert any("warning: 'statementLimit' is not enforced by this runtime" in str(d) for d in loaded.diagnostics)


def test_scripting_endpoint_reads_counts_and_changes_the_governance_while_serving(tmp_path, upstream):
    """The engine's ``GET``/``PUT /scripting``: the settings and the counts of the runs; a PUT turns
    script steps off and on and changes their timeout from the next run on; what shapes the steps at
    load (defaults, allowedLanguages) is refused, and a refused body changes nothing."""
    upstream.reset(crew_total)
    scripting = "{defaultLanguage: javascript, defaultLocation: 'LOCATION', timeout: 5000, statementLimit: 1000}"
    path = governed(tmp_path, upstream.url, scripting)
    with running_gateway([path], {}, script_timeout=5.0) as gateway:
        control, script = gateway.url(7070) + "/scripting", gateway.url(8080) + "/script/"
        before = httpx.get(control).json()
        assert before == {
            "enabled": True,
            "timeout": 5000,
            "defaultLocation": (tmp_path / "scripts").as_uri(),
            "defaultLanguage": "javascript",
            "statementLimit": 1000,
            "stats": {"totalExecutions": 0, "totalErrors": 0, "averageDurationMs": 0.0},
        }
        assert httpx.get(script + "sum", timeout=10).status_code == 200
        assert httpx.get(script + "throw", timeout=10).status_code == 500
        stats = httpx.get(control).json()["stats"]
        assert (stats["totalExecutions"], stats["totalErrors"]) == (2, 1) and "lastExecutionAt" in stats
        assert httpx.put(control, json={"enabled": False}).json()["enabled"] is False
        assert "script steps are disabled" in httpx.get(script + "sum", timeout=10).json()["detail"]
        assert httpx.put(control, json={"enabled": True, "timeout": 200}).json()["timeout"] == 200
        looping = httpx.get(script + "loop", timeout=10).json()["detail"]
        assert looping.endswith("its limit of 0.2 s and was stopped")
        for body, message in (
            ({"defaultLanguage": "python"}, "defaultLanguage shape the script steps when the file loads"),
            ({"timeout": 0, "enabled": False}, "'timeout' must be an integer greater than or equal to 1"),
            ({"enabled": "no"}, "'enabled' must be true or false"),
            ({"speed": 1}, "unknown scripting setting(s) speed"),
        ):
            refused = httpx.put(control, json=body)
            assert refused.status_code == 400 and message in refused.json()["detail"], refused.text
        after = httpx.get(control).json()
        assert (after["enabled"], after["timeout"]) == (True, 200), "a refused PUT changes nothing"


def test_scripting_endpoint_is_absent_without_a_scripting_block(tmp_path, upstream):
    """As in the engine: no ``scripting`` block, nothing at ``/scripting`` (404)."""
    text = governed(tmp_path, upstream.url, "{}").read_text()
    location = (tmp_path / "scripts").as_uri()
    text = text.replace("    management:\n      scripting: {}\n", "")
    text = text.replace("file: main.js", f"file: main.js, language: javascript, location: '{location}'")
    (tmp_path / "plain.yaml").write_text(text)
    with running_gateway([tmp_path / "plain.yaml"], {}) as gateway:
        assert httpx.get(gateway.url(7070) + "/scripting").status_code == 404
