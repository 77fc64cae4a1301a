"""How long ``synsweep serve`` takes to show the heatmap of a 10^6-point store.

    python tests/benchmarks/bench_serve.py [--side 1000] [--repeat 5] [--keep DIR]

The store: the HH pair with a gap junction over a side x side grid of g x I_ext (10^6 points by default),
every metric, 2 steps of rk4 (cheap to compute: the benchmark is about reading and drawing), written in this
process by the runner's chunk function in chunks of 65536 points. The app runs under uvicorn on 127.0.0.1 in a
thread of this process; a headless chromium (tests/e2e/browser.py) opens the page. Reported:

- the endpoint alone (``GET /api/plot`` of pearson, over HTTP): the first request (the store opened, every
  chunk of pearson and status read) and the median of the next ``--repeat``; the response size;
- in the browser, from navigation to the heatmap drawn (the page's ``data-renders`` set after
  ``Plotly.react``): a fresh page on a fresh server (first load), and the median of ``--repeat`` reloads;
- switching the variable to rate_count (one neuron selected by the slider) on the open page.

Not part of the test suite; nothing is asserted.
"""

from __future__ import annotations

import argparse
import copy
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from synsweep.sweeps import load_spec  # noqa: E402
from tests.e2e.browser import chromium_driver  # noqa: E402
from tests.serve_stores import write_store  # noqa: E402
from tests.specs import HH_PAIR_CIRCUIT  # noqa: E402


def big_spec(side: int):
    return load_spec({
        "name": "serve_bench",
        "circuit": copy.deepcopy(HH_PAIR_CIRCUIT),
        "simulation": {"dt": 0.05, "duration": 0.1, "transient": 0.0, "integrator": "rk4", "precision": "float64"},
        "sweep": [
            {"name": "g", "paths": ["synapses.gap.params.g1", "synapses.gap.params.g2"],
             "linspace": {"start": 0.0, "stop": 0.01, "num": side}},
            {"name": "I_ext", "paths": {"inputs.n1": 1.0, "inputs.n2": 0.8},
             "linspace": {"start": 0.05, "stop": 0.15, "num": side}},
        ],
        "execution": {"chunk_points": 65536},
    })


def start_server(root: Path):
    import uvicorn

    from synsweep.workflows.serve.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(root), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}/"


def page_load(driver, url: str) -> float:
    driver.get("about:blank")
    start = time.perf_counter()
    driver.get(url)
    while not driver.execute_script("return Number(document.getElementById('plot').dataset.renders || 0) >= 1"):
        time.sleep(0.01)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=int, default=1000, help="grid side (points: side^2)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="folder for the store (kept; reused when it is there)")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-serve-"))
    store = folder / "serve_bench.zarr"
    if not store.exists():
        start = time.perf_counter()
        write_store(store, big_spec(args.side))
        print(f"store: {args.side ** 2:,} points written in {time.perf_counter() - start:.1f} s")
    query = "api/plot?store=serve_bench.zarr&var=pearson"
    try:
        server, thread, base = start_server(folder)
        times, size = [], 0
        for _ in range(args.repeat + 1):
            start = time.perf_counter()
            with urllib.request.urlopen(base + query, timeout=600) as r:
                size = len(r.read())
            times.append(time.perf_counter() - start)
        print(f"GET /api/plot (pearson, {args.side}x{args.side}): first {times[0]:.2f} s, then median "
              f"{statistics.median(times[1:]):.2f} s; {size / 1e6:.1f} MB")
        server.should_exit = True
        thread.join()

        server, thread, base = start_server(folder)  # a fresh server: nothing opened yet
        driver = chromium_driver(Path(tempfile.mkdtemp(prefix="bench-serve-browser-")))
        try:
            url = f"{base}#/store/serve_bench.zarr"
            first = page_load(driver, url)
            again = [page_load(driver, url) for _ in range(args.repeat)]
            print(f"browser, navigation to heatmap drawn: first load {first:.2f} s, reloads median "
                  f"{statistics.median(again):.2f} s (min {min(again):.2f}, max {max(again):.2f})")
            switch = []
            for _ in range(args.repeat):
                for var in ("rate_count", "pearson"):
                    before = driver.execute_script("return Number(document.getElementById('plot').dataset.renders)")
                    start = time.perf_counter()
                    driver.execute_script(f"const s = document.getElementById('var-select'); s.value = '{var}';"
                                          "s.dispatchEvent(new Event('change'))")
                    while driver.execute_script("return Number(document.getElementById('plot').dataset.renders)") \
                            <= before:
                        time.sleep(0.01)
                    switch.append(time.perf_counter() - start)
            print(f"browser, switching the variable on the open page: median {statistics.median(switch):.2f} s")
        finally:
            driver.quit()
            server.should_exit = True
            thread.join()
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
