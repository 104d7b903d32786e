"""The runtime's own model of the spec: YAML with positions (``source``), the dialects and their
shape checks (``dialects``, ``shapes``, ``schema`` for alpha2, ``schema_beta4`` for beta4), imports
and the composed document (``imports``, ``documents``), the typed model and its builder
(``model``, ``builder``), binds and ``{{...}}`` expressions (``binds``, ``expressions``), and the
alpha2 -> beta4 rewrite behind ``naftiko migrate`` (``migrate``)."""
