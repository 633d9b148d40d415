"""The standalone app builds with PyInstaller and runs frozen: installer/build.py's smoke test
(`info --json` on the demo, and `open --screenshot --analyze` offscreen with no traceback)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_the_frozen_app_builds_and_passes_its_smoke_test(tmp_path):
    pytest.importorskip("PyInstaller")
    proc = subprocess.run([sys.executable, str(REPO / "installer" / "build.py"), "--dist", str(tmp_path / "dist"),
                           "--work", str(tmp_path / "work")], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "smoke test open --screenshot --analyze" in proc.stdout
    assert (tmp_path / "dist" / "stemscope" / "stemscope").is_file()
