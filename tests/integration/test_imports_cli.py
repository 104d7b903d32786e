"""Issue 11, item 2: the tutorial's standalone shared files pass `naftiko validate` on their own,
run as a user runs it (CONTRACT D71). The import rules themselves: tests/unit/test_imports.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import SHARED

NAFTIKO = str(Path(sys.executable).parent / "naftiko")
TUTORIAL_SHARED = SHARED / "spec" / "ikanos-1.0.0-beta4" / "ikanos-docs" / "tutorial" / "shared"


@pytest.mark.skipif(not TUTORIAL_SHARED.is_dir(), reason="shared reference folder absent")
@pytest.mark.parametrize(
    "name", ["registry-consumes.yaml", "step5-registry-consumes.yaml", "step11-registry-consumes.yml"]
)
def test_tutorial_shared_files_validate_on_their_own(name):
    """`naftiko validate shared/registry-consumes.yaml` (issue 11, item 2)."""
    result = subprocess.run(
        [NAFTIKO, "validate", str(TUTORIAL_SHARED / name)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout
    assert "1 of 1 files valid; 0 errors, 0 warnings" in result.stdout
