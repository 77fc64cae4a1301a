"""dask's dashboard at run start: with bokeh installed (the optional extra ``synsweep[dashboard]``) the local
cluster serves it on 127.0.0.1 and ``synsweep run`` prints its link; without bokeh nothing is said and no HTTP
dashboard is opened. The absent case hides bokeh from the real command with a package on PYTHONPATH whose
import fails, as a missing one does. The present case needs bokeh installed (it is not in the ``test`` extra:
importing it costs every run about a second), and is skipped where it is not."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from synsweep.sweeps import execute, load_spec
from synsweep.sweeps.dashboard import LOGGER, dashboard_address
from tests.specs import hh_pair_doc

EXE = Path(sys.executable).with_name("synsweep")
DOC = hh_pair_doc("dashboard", [0.0], duration=5, chunk_points=10)
LINK = re.compile(r"^synsweep: dask dashboard: (http://127\.0\.0\.1:\d+/status)$", re.MULTILINE)


def run_cli(tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(DOC))
    return subprocess.run([str(EXE), "run", str(spec), "--out", str(tmp_path / "out.zarr"), "--workers", "1",
                           "--no-progress"], capture_output=True, text=True, timeout=180,
                          env={**os.environ, **(env or {})})


def test_the_link_is_printed_and_the_dashboard_served_while_the_run_lasts(tmp_path: Path) -> None:
    pytest.importorskip("bokeh", reason="the dashboard needs bokeh (pip install 'synsweep[dashboard]')")
    assert dashboard_address() == "127.0.0.1:0"
    proc = run_cli(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(LINK.findall(proc.stderr)) == 1, proc.stderr
    # the same link from the Python API, fetched while the cluster is up: dask's status page, drawn by bokeh
    pages: list[tuple[str, int, bytes]] = []

    class Fetch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            url = record.getMessage().removeprefix("dask dashboard: ")
            with urllib.request.urlopen(url, timeout=30) as response:
                pages.append((url, response.status, response.read()))

    handler = Fetch()
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)
    try:
        execute(load_spec(DOC), tmp_path / "api.zarr", workers=1, progress=False)
    finally:
        LOGGER.removeHandler(handler)
        LOGGER.setLevel(logging.NOTSET)
    [(url, status, body)] = pages
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/status", url) and status == 200 and b"bokeh" in body.lower()


@pytest.mark.slow
def test_without_bokeh_nothing_is_printed_and_the_run_is_unchanged(tmp_path: Path) -> None:
    hidden = tmp_path / "hide"
    (hidden / "bokeh").mkdir(parents=True)
    (hidden / "bokeh" / "__init__.py").write_text('raise ModuleNotFoundError("No module named \'bokeh\'")\n')
    path = os.pathsep.join(p for p in (str(hidden), os.environ.get("PYTHONPATH", "")) if p)
    check = subprocess.run([sys.executable, "-c", "from synsweep.sweeps.dashboard import dashboard_address; "
                            "print(dashboard_address())"], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": path}, timeout=60)
    assert check.stdout.strip() == "None", check.stderr
    proc = run_cli(tmp_path, {"PYTHONPATH": path})
    assert proc.returncode == 0, proc.stderr
    assert "dashboard" not in proc.stderr.lower() and "bokeh" not in proc.stderr.lower(), proc.stderr
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "expected time" in lines[0], proc.stderr  # the estimate, nothing else
