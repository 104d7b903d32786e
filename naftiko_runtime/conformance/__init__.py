"""The conformance suite runner: language-neutral cases (YAML data) run against a Naftiko runtime.

Cases live under ``conformance/cases/<area>/*.yaml`` (format: ``conformance/README.md``). The runner
plays the upstream (``stub``), starts the runtime under test in-process or as a subprocess
(``drivers``), makes the requests, and compares what came back and what the upstream received
(``match``). ``naftiko conformance --help`` for the command line.
"""
