"""The ``x-naftiko-webhook`` entry's shape in each dialect (D106): what the shape check knows of it,
so that a misspelt key is positioned there rather than left to the builder alone."""

from __future__ import annotations

from ...spec.profiles import Profile
from ...spec.shape_adapters import operation_modes
from ...spec.shape_parts import (
    ANY,
    BOOL,
    EXTENDED,
    KEBAB,
    NAME_KEYS,
    PARAM_TYPE,
    PARAMETER_KEYS,
    REF,
    STR,
    adapter_common,
    call,
    mappings,
    steps,
    with_,
)
from ...spec.shapes import Arr, Num, Obj, Shape, Str
from .signatures import STYLES


def webhook_shape(d: Profile) -> Shape:
    signature = Obj(
        "webhook signature",
        {"style": Str(enum=STYLES), "secret": STR, "tolerance": Num(0)},
        ("style", "secret"),
    )
    inputs = d.many(
        Obj(
            "webhook input parameter",
            {**d.name(EXTENDED), "type": PARAM_TYPE, "description": STR, "required": BOOL, "value": STR},
            (*d.needs_name, "type"),
        ),
        keys=PARAMETER_KEYS,
    )
    webhook = Obj(
        "webhook",
        {
            **d.name(KEBAB),
            d.label: STR,
            "description": STR,
            "path": STR,
            "signature": signature,
            "inputParameters": inputs,
            "ref": REF,
            "call": call(d),
            "with": with_(d),
            "steps": steps(d),
            "mappings": mappings(d),
            "outputParameters": d.pick(Arr(ANY), ANY),
        },
        (*d.needs_name, "path", "signature"),
        rules=(operation_modes(d, ()),),
    )
    return Obj(
        "x-naftiko-webhook adapter",
        {
            **adapter_common(d),
            "namespace": KEBAB,
            "description": STR,
            "webhooks": d.many(webhook, keys=NAME_KEYS, min_items=1),
        },
        ("type", "port", "namespace", "webhooks"),
    )
