"""``naftiko import FORMAT ...``: generate capability files from other API descriptions.

Importers are pure (a parsed document in, capability YAML text out) and independent of the
serving runtime, so that what they write is checked by the same ``naftiko validate`` as a
hand-written file.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

FORMATS = ("openapi",)


def main(argv: Sequence[str]) -> int:
    """Dispatch ``naftiko import <format> ...`` to the importer of that format."""
    if not argv or argv[0] not in FORMATS:
        print(
            f"usage: naftiko import {{{','.join(FORMATS)}}} ... (see `naftiko import openapi --help`)", file=sys.stderr
        )
        return 2
    from .openapi import main as openapi_main

    return openapi_main(argv[1:])
