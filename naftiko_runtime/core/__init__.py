"""The execution core, shared by every adapter: plans compiled at load time (``plans``, ``inputs``,
``outputs``, ``bodies``, ``codecs``, ``credentials``), and the request path (``requests`` ->
``upstream`` -> ``execution``), with its errors (``problems``) and secrets (``redaction``)."""
