from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hardening_support import COUNTS


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Issue 6 asks for every count and figure: printed at the end of any run that collected them."""
    if not COUNTS:
        return
    terminalreporter.section("hardening figures (issue 6)")
    for name, value in COUNTS.items():
        terminalreporter.write_line(f"{name}: {value}")
