"""The runtime's own model of the spec: YAML with positions (``source``), the dialects and their
shape checks (``dialects``, ``shapes``; ``schema``, one table for every dialect's ``profiles``, with
the kinds' fragments registered in ``shape_kinds``), imports
and the composed document (``imports``, ``documents``), the typed model and its builder
(``model``, ``builder``), binds and ``{{...}}`` expressions (``binds``, ``expressions``), and the
alpha2 -> beta4 rewrite behind ``naftiko migrate`` (``migrate``)."""
