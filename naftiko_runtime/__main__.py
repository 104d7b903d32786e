"""``python -m naftiko_runtime`` is the ``naftiko`` command."""

import sys

from .cli import main

sys.exit(main())
