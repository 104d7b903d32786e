"""The spec features this runtime implements, as named by the conformance suite's cases.

A case that needs a feature missing here counts as "not implemented", never as passed. Adapter
kinds bring their own features (``AdapterKind.features``); a step kind is the feature of its name,
a response format ``formats.<name>`` (JSON is ``simple``, binary its own ``binary``). A feature whose
optional extra is not installed (``naftiko_runtime.extras``) is not claimed, since its files are
refused at load.
"""

from ..adapters.registry import KINDS
from ..core.codecs import DECODERS
from ..core.stepkinds import STEP_KINDS
from ..extras import EXTRAS

CORE_FEATURES = frozenset(
    {
        "loading",  # D1-D5: YAML, schema, semantic checks, positions
        "binds",  # D10-D13: environment and file binds, templates
        "simple",  # call + with + mapped outputs
        "auth.consumed",  # basic, digest, bearer, apikey on consumed APIs
        "auth.exposed",  # D90: bearer, apikey, basic, digest, oauth2 (JWT + JWKS) on exposed adapters
        "bodies",  # operation-level body: json, text, xml, sparql, formUrlEncoded
        "bodies.multipart",  # multipartForm bodies: fields and files
        "binary",  # outputRawFormat binary (beta4 keys in the alpha2-shaped model): streamed, MCP blobs
        "multi-file",  # D30-D34
        "orchestrated",  # D80: call steps, mappings
        "aggregates",  # capability.aggregates, ref, semantics -> hints
        "mock",  # D81: no call, no steps; serve --mock
        "imports",  # D71: import/from/as (and alpha2 location) in consumes, exposes, aggregates, binds
        "dialect.beta4",  # D70: ikanos 1.0.0-beta4/beta5 documents
    }
)

STEP_FEATURES = frozenset(STEP_KINDS) - {"call"}  # call steps are "orchestrated"
FORMAT_FEATURES = frozenset(f"formats.{name}" for name in DECODERS if name not in ("json", "binary"))
IMPLEMENTED = (
    CORE_FEATURES
    | STEP_FEATURES
    | FORMAT_FEATURES
    | frozenset(feature for kind in KINDS.values() for feature in kind.features)
) - frozenset(extra.feature for extra in EXTRAS if extra.feature and not extra.installed())
