"""`synsweep validate` says whether the sweep's kernel is compiled here, and `--compile` compiles it.

Each call is a fresh process of the installed command, with its own empty kernel cache.
"""

from __future__ import annotations

import os
import subprocess
from importlib import resources

import pytest

from .test_cli import EXE


def validate(cache, *args: str) -> str:
    spec = resources.files("synsweep.workflows") / "specs" / "coupling_scan_small.yaml"
    env = {**os.environ, "SYNSWEEP_CACHE_DIR": str(cache)}
    proc = subprocess.run([str(EXE), "validate", str(spec), *args], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.slow
def test_validate_reports_and_warms_the_kernel_cache(tmp_path):
    cache = tmp_path / "cache"
    assert "not compiled on this machine yet" in validate(cache)
    assert "kernel ready in" in validate(cache, "--compile")
    assert "compiled, in" in validate(cache)
