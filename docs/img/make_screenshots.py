"""Redraw the README's screenshots of ``synsweep serve`` (docs/img/serve_*.png) from real stores.

    .venv/bin/python docs/img/make_screenshots.py [--keep DIR]

Writes the packaged coupling scan (41 x 21 points, 100 ms), its small version with its last chunk left not
computed, and the chemical-synapse pair of the tests, serves them, and takes the three views in headless
chromium (tests/e2e/browser.py): the list, the coupling scan's heatmap, and the replay of one point.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from synsweep.workflows.launch import load, packaged_spec  # noqa: E402
from tests.benchmarks.bench_serve import start_server  # noqa: E402
from tests.e2e.browser import chromium_driver  # noqa: E402
from tests.serve_stores import chemical_spec, write_store  # noqa: E402


def wait(driver, script: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not driver.execute_script(f"return {script}"):
        if time.monotonic() > deadline:
            raise TimeoutError(script)
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", type=Path, help="folder for the stores (reused when they are there)")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="serve-shots-"))
    stores = [(folder / "coupling_scan.zarr", load(packaged_spec("coupling_scan.yaml")), 0),
              (folder / "quick" / "coupling_scan_small.zarr", load(packaged_spec("coupling_scan_small.yaml")), 1),
              (folder / "chemical_pair.zarr", chemical_spec(), 0)]
    for path, spec, skip in stores:
        if not path.exists():
            write_store(path, spec, skip_last=skip)
    server, thread, base = start_server(folder)
    driver = chromium_driver(Path(tempfile.mkdtemp(prefix="serve-shots-browser-")))
    out = ROOT / "docs" / "img"
    try:
        driver.set_window_size(1400, 480)  # the list is short
        driver.get(base)
        wait(driver, "document.querySelectorAll('tr.store-row').length === 3")
        driver.save_screenshot(str(out / "serve_list.png"))
        driver.set_window_size(1400, 1000)
        driver.get(f"{base}#/store/coupling_scan.zarr")
        wait(driver, "Number(document.getElementById('plot').dataset.renders || 0) >= 1")
        driver.save_screenshot(str(out / "serve_store.png"))
        driver.execute_script("""
            const gd = document.getElementById('plot');
            gd.emit('plotly_click', {points: [{pointNumber: [12, 20]}]});""")  # I_ext = 0.11, g = 0.005
        wait(driver, "['ok', 'differs', 'failed'].includes(document.getElementById('replay').dataset.state)")
        driver.execute_script("document.getElementById('replay').scrollIntoView()")
        driver.save_screenshot(str(out / "serve_replay.png"))
    finally:
        driver.quit()
        server.should_exit = True
        thread.join()


if __name__ == "__main__":
    main()
