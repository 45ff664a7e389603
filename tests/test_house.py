"""The house rules, in the fast tier: ruff's lint (pyproject.toml,
[tool.ruff]) on everything, and mypy, strict, on ``tasks/``."""
from __future__ import annotations

import subprocess
import sys

import pytest

from sandbox.config_repo import PROJECT_ROOT


@pytest.mark.parametrize("tool, args", [("ruff", ["check", "--no-cache", "."]),
                                        ("mypy", ["--no-incremental"])])
def test_the_code_passes(tool, args):
    result = subprocess.run([sys.executable, "-m", tool, *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
