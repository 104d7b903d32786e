"""Issue 19, item 4, in process: what the plugin loader refuses, and that a refusal changes no
registry (a plugin never replaces a type, ours or another plugin's)."""

from __future__ import annotations

from dataclasses import replace
from importlib.metadata import EntryPoint

import pytest
from hypothesis import given
from hypothesis import strategies as st

from naftiko_runtime.adapters.registry import KINDS
from naftiko_runtime.serving.plugins import AXES, GROUP, PluginError, Plugins, load_plugins
from naftiko_runtime.spec import plugged

TAKEN = [(axis, name) for axis, spec in AXES.items() for name in spec.table]


@given(st.sampled_from(TAKEN))
def test_a_type_already_registered_is_refused_and_nothing_changes(taken):
    axis, name = taken
    table = AXES[axis].table
    before, spec_before = dict(table), (dict(plugged.STEP_PARSERS), set(plugged.FORMATS), dict(plugged.EXPOSED_AUTH))
    existing = table[name]
    again = replace(existing) if axis == "response_format" else existing
    with pytest.raises(Exception, match=f"'{name}' is already registered"):
        getattr(Plugins(), axis)(again)
    assert dict(table) == before
    assert (dict(plugged.STEP_PARSERS), set(plugged.FORMATS), dict(plugged.EXPOSED_AUTH)) == spec_before


@given(st.sampled_from(sorted(AXES)))
def test_an_object_without_the_interface_is_refused_by_what_it_lacks(axis):
    with pytest.raises(Exception, match="lacks " + ", ".join(AXES[axis].needs)):
        getattr(Plugins(), axis)(object())


def register_rest_again(plugins: Plugins) -> None:
    plugins.adapter_kind(KINDS["rest"])


def register_nothing(plugins: Plugins) -> None:
    """A plugin may register nothing: it loads, and adds nothing."""


def test_each_failing_plugin_is_one_line_and_the_others_still_load():
    module = __name__
    found = [
        EntryPoint("again", f"{module}:register_rest_again", GROUP),
        EntryPoint("nothing", f"{module}:register_nothing", GROUP),
        EntryPoint("raises", f"{module}:TAKEN", GROUP),
    ]
    with pytest.raises(PluginError) as refused:
        load_plugins(found)
    lines = str(refused.value).splitlines()
    assert len(lines) == 2
    assert f"entry point 'again = {module}:register_rest_again'" in lines[0]
    assert "adapter kind 'rest' is already registered" in lines[0]
    assert "is a list, not a function register(plugins)" in lines[1]
    assert load_plugins([found[1]])[("(no distribution)", "nothing")] == []
