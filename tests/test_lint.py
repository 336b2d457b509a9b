"""The code stays clean: ruff's checks and mypy (both configured in pyproject.toml)."""

import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.no_state  # never opens the state database: runs once


def test_ruff_finds_nothing():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--quiet", str(ROOT)],
                          capture_output=True, text=True, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_finds_nothing():
    """The package type-checks (configured in pyproject.toml)."""
    proc = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary", str(ROOT / "feeder")],
                          capture_output=True, text=True, check=False, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
