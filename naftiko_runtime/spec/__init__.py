"""The runtime's own model of the Naftiko spec: YAML with positions (``source``), the shape check
(``shapes``, ``schema``), the typed model and its builder (``model``, ``builder``), binds and
``{{...}}`` expressions (``binds``, ``expressions``)."""
