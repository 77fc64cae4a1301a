"""Stores created from several threads at once (a workflow's sweeps) warn nothing: zarr's warning about
consolidated metadata is silenced process-wide, not by ``warnings.catch_warnings`` blocks, which are not
thread-safe (one block's exit restored the filters while another thread's write warned)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROBE = """
import sys
from concurrent.futures import ThreadPoolExecutor
from synsweep.sweeps import load_spec, plan_chunks
from synsweep.sweeps.store import create_store
from tests.specs import hh_pair_doc

spec = load_spec(hh_pair_doc("threads", [0.0, 0.001, 0.002], duration=4.0, chunk_points=10))
with ThreadPoolExecutor(8) as pool:
    list(pool.map(lambda k: create_store(spec, plan_chunks(spec), f"{sys.argv[1]}/s{k}.zarr"), range(16)))
print("ok")
"""


def test_stores_created_from_threads_at_once_warn_nothing(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", PROBE, str(tmp_path)], cwd=root,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
    assert "onsolidated metadata" not in proc.stderr
    assert len(list(tmp_path.glob("s*.zarr/zarr.json"))) == 16
