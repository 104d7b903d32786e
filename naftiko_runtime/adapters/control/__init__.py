"""The ``control`` adapter kind: the management plane (health, info, validate, reload, log level,
Prometheus metrics), answered from what the serving layer hands it (``base.RuntimeControl``)."""
