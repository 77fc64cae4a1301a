"""Test-wide settings: one kernel cache for the whole run (and for the worker processes it starts)."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

os.environ.setdefault("SYNSWEEP_CACHE_DIR", str(ROOT / ".synsweep-cache"))
os.environ.setdefault("NUMBA_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"the shared folder with reference data is missing: {SHARED}")
    return SHARED
