"""The spec features this runtime implements, as named by the conformance suite's cases.

A case that needs a feature missing here counts as "not implemented", never as passed. Adapter
kinds bring their own features (``AdapterKind.features``).
"""

from ..adapters.registry import KINDS

CORE_FEATURES = frozenset(
    {
        "loading",  # D1-D5: YAML, schema, semantic checks, positions
        "binds",  # D10-D13: environment and file binds, templates
        "simple",  # call + with + mapped outputs
        "auth.consumed",  # basic, digest, bearer, apikey on consumed APIs
        "bodies",  # operation-level body: json, text, xml, sparql, formUrlEncoded
        "multi-file",  # D30-D34
        "imports",  # D71: import/from/as (and alpha2 location) in consumes, exposes, aggregates, binds
        "dialect.beta4",  # D70: ikanos 1.0.0-beta4/beta5 documents
    }
)

IMPLEMENTED = CORE_FEATURES | frozenset(feature for kind in KINDS.values() for feature in kind.features)
