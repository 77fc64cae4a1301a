"""Scale benchmark: sweeps of 10^5 to 10^8 points of a cheap configuration through the full dask path, on local
disk or on object storage (an S3 server, moto, started here on 127.0.0.1).

    python tests/benchmarks/bench_scale.py [--points 100000 1000000 10000000] [--chunk-points 4096]
                                           [--stores disk s3] [--layouts sharded unsharded]
                                           [--workers 2] [--steps 20] [--keep DIR]

    python tests/benchmarks/bench_scale.py --points 100000000 --stores disk   # 10^8: about 11 min on 2 cores

The sweep: the HH pair with a gap junction (g x I_ext, a square grid), every metric, no traces, rk4 float64,
dt 0.05 ms for ``--steps`` steps (1 ms by default): cheap per point, so the cost of the service (scheduling,
zarr writes, bookkeeping) shows. A ``dask scheduler`` and ``dask worker --nworkers W --nthreads 1`` run as
their own processes on 127.0.0.1; each sweep's driver (``synsweep.sweeps.execute`` against that scheduler) is
a fresh child process, so its peak RSS is the client's alone, and the workers are restarted between sweeps,
so their peak RSS belongs to one sweep. ``--layouts unsharded`` writes the layout of stores before sharding
(one object per task block and variable, one completion record per block) for the before/after comparison.
Reported per sweep:

- wall time, per-point cost (wall / points) and throughput in neuron-steps/s;
- start: the driver's time from the call to the first task sent (template written, work listed);
- per task: the task's time on the worker besides the kernel and its first load in a worker process
  (building the block, zarr writes, completion record),
  the idle worker time per task ((workers x wall - sum of task times) / tasks: scheduling, the driver's
  round trips, start and end), and for comparison the round trip of a no-op task through the same
  windowed submit/as_completed loop;
- client (driver) peak RSS and its RSS after imports; worker peak RSS (the largest worker) after importing the
  engine and after the sweep; the scheduler's peak RSS;
- the store: number of files (objects), objects of one variable (``status``), bytes of metadata (every
  zarr.json), of bookkeeping (.synsweep) and of chunk data.

Not part of the test suite; nothing is asserted but that every point was computed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def spec_doc(points: int, chunk_points: int, steps: int) -> dict:
    side = round(points ** 0.5)  # the grid is side x side: 10^7 points run as 3162^2 = 9,998,244
    return {
        "name": f"scale-{points}",
        "circuit": {"neurons": {"n1": {"model": "hh"}, "n2": {"model": "hh"}},
                    "synapses": {"gap": {"model": "electrical", "pre": "n1", "post": "n2"}},
                    "inputs": {"n1": 0.1, "n2": 0.08}},
        "simulation": {"dt": 0.05, "duration": steps * 0.05, "transient": 0, "integrator": "rk4",
                       "precision": "float64", "scheme": "coupled"},
        "sweep": [{"name": "g", "paths": ["synapses.gap.params.g1", "synapses.gap.params.g2"],
                   "linspace": {"start": 0.0, "stop": 0.01, "num": side}},
                  {"name": "I_ext", "paths": {"inputs.n1": 1.0, "inputs.n2": 0.8},
                   "linspace": {"start": 0.05, "stop": 0.15, "num": side}}],
        "execution": {"chunk_points": chunk_points},
    }


def rss_mib(kib: int) -> float:
    return kib / 1024


# -- the driver: a child process per sweep ----------------------------------------------------------------
def noop(i: int) -> int:
    return i


def drive(args: argparse.Namespace) -> None:
    """Child process: run one sweep against the scheduler and print a JSON line of measurements."""
    from distributed import Client, as_completed

    from synsweep.sweeps import execute, load_spec, store

    points, chunk_points = round(args.points[0] ** 0.5) ** 2, args.chunk_points[0]
    if args.layouts == ["unsharded"]:
        store.SHARD_POINTS = 1  # a shard per block: the layout before sharding
    spec = load_spec(spec_doc(points, chunk_points, args.steps))
    client = Client(args.scheduler, set_as_default=False)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started: list[float] = []
    t0 = time.perf_counter()
    report = execute(spec, args.out, client=client, progress=False,
                     on_start=lambda _: started.append(time.perf_counter() - t0))
    wall = time.perf_counter() - t0
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # no-op tasks through the runner's pattern (a window of futures, as_completed), as many as the sweep had
    n = len(report.computed)
    window = max(4 * args.workers, 32)
    t1 = time.perf_counter()
    queue = iter(range(n))
    futures = [client.submit(noop, i, pure=False) for i, _ in zip(queue, range(window), strict=False)]
    pending = as_completed(futures, loop=client.loop)
    for fut in pending:
        fut.result()
        nxt = next(queue, None)
        if nxt is not None:
            pending.add(client.submit(noop, nxt, pure=False))
    noop_wall = time.perf_counter() - t1
    client.close()
    print(json.dumps({
        "points": points, "chunk_points": chunk_points, "chunks": n, "failed": len(report.failed),
        "wall": wall, "task_seconds": report.task_seconds, "kernel_seconds": report.kernel_seconds,
        "compile_seconds": report.compile_seconds,
        "n_points": report.n_points, "neuron_steps": report.n_points * 2 * spec.simulation.n_steps,
        "client_rss_before_mib": rss_mib(rss_before), "client_rss_peak_mib": rss_mib(rss_peak),
        "noop_wall": noop_wall, "start_seconds": started[0] if started else float("nan"),
    }))


# -- the parent: cluster, sweeps, table ----------------------------------------------------------------------
def store_sizes(url: str) -> dict:
    """Objects (files) of the store and their bytes: metadata, bookkeeping, data; objects of ``status``."""
    from synsweep.sweeps.location import location

    loc = location(url)
    if loc.is_local:
        objects = [(str(f.relative_to(loc.path)), f.stat().st_size) for f in loc.path.rglob("*") if f.is_file()]
    else:
        import obstore

        objects = [(m["path"], m["size"]) for batch in obstore.list(loc.store) for m in batch]
    meta = sum(size for key, size in objects if key.endswith("zarr.json"))
    book = sum(size for key, size in objects if key.startswith(".synsweep/") and not key.endswith("zarr.json"))
    data = sum(size for _, size in objects) - meta - book
    status = sum(1 for key, _ in objects if key.startswith("status/c/"))
    return {"files": len(objects), "status_objects": status, "metadata_bytes": meta, "bookkeeping_bytes": book,
            "data_bytes": data}


def start_s3(env: dict, tmp: Path) -> tuple[subprocess.Popen, dict]:
    """moto's S3 server on a free port of 127.0.0.1, a bucket ``bench``, and the AWS_* environment for it."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    aws = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ALLOW_HTTP": "true"}
    os.environ.update(aws)
    import boto3

    for _ in range(200):
        try:
            boto3.client("s3").create_bucket(Bucket="bench")
            break
        except Exception:
            time.sleep(0.1)
    return server, {**env, **aws}


def worker_peak_mib(client) -> float:
    return max(rss_mib(v) for v in client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss).values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--chunk-points", type=int, nargs="+", default=[4096],
                        help="chunk sizes for the largest --points (the others run with 4096)")
    parser.add_argument("--stores", nargs="+", choices=["disk", "s3"], default=["disk"])
    parser.add_argument("--layouts", nargs="+", choices=["sharded", "unsharded"], default=["sharded"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="keep the stores here (default: a temporary folder)")
    parser.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--scheduler", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        drive(args)
        return

    from distributed import Client


    tmp = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    root = args.keep or tmp
    root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    sched_file = tmp / "scheduler.json"
    procs: list[subprocess.Popen] = []
    if "s3" in args.stores:
        server, env = start_s3(env, tmp)
        procs.append(server)
    procs += [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(sched_file)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        while not sched_file.exists():
            time.sleep(0.1)
        procs.append(subprocess.Popen([str(BIN / "dask"), "worker", "--scheduler-file", str(sched_file),
                                       "--host", "127.0.0.1", "--nworkers", str(args.workers), "--nthreads", "1",
                                       "--no-dashboard", "--memory-limit", "0"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        client = Client(scheduler_file=str(sched_file), set_as_default=False)
        client.wait_for_workers(args.workers, timeout=120)
        sizes = [(p, 4096) for p in args.points[:-1]] + [(args.points[-1], c) for c in args.chunk_points]
        runs = [(p, c, where, layout) for where in args.stores for layout in args.layouts for p, c in sizes]
        rows = []
        for points, chunk_points, where, layout in runs:
            client.restart()
            client.wait_for_workers(args.workers, timeout=120)
            client.run(lambda: __import__("synsweep.sweeps.runner") and None)  # the engine imported: the baseline
            worker_base = worker_peak_mib(client)
            name = f"scale_{points}_{chunk_points}_{layout}.zarr"
            if where == "disk":
                out = str(root / name)
                shutil.rmtree(out, ignore_errors=True)
            else:
                out = f"s3://bench/{name}"
            proc = subprocess.run([sys.executable, __file__, "--drive", "--points", str(points), "--chunk-points",
                                   str(chunk_points), "--steps", str(args.steps), "--workers", str(args.workers),
                                   "--scheduler", client.scheduler.address, "--out", out, "--layouts", layout],
                                  capture_output=True, text=True, env=env)
            if proc.returncode:
                raise SystemExit(proc.stderr)
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            row["worker_rss_base_mib"] = worker_base
            row["worker_rss_peak_mib"] = worker_peak_mib(client)
            row["scheduler_rss_peak_mib"] = rss_mib(client.run_on_scheduler(
                lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
            row.update(store_sizes(out), store=where, layout=layout)
            from synsweep.sweeps.store import status_counts

            row["ok_points"] = status_counts(out)[0]
            rows.append(row)
            print(json.dumps(row), flush=True)
        client.close()
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)
    report(rows, args.workers)


def report(rows: list[dict], workers: int) -> None:
    print(f"\n{workers} workers x 1 thread; HH pair, rk4 float64, every metric, no traces\n")
    head = ("store", "layout", "points", "chunk", "tasks", "wall s", "us/pt", "Mnsteps/s", "start s",
            "non-kernel/task ms", "idle/task ms", "noop ms", "client MiB", "client base", "worker MiB",
            "worker base", "sched MiB", "objects", "per var", "meta kB", ".synsweep kB", "data MB", "ok")
    lines = [head]
    for r in rows:
        n = max(r["chunks"], 1)
        lines.append((
            r["store"], r["layout"], f"{r['points']:,}", f"{r['chunk_points']:,}", f"{r['chunks']:,}",
            f"{r['wall']:.1f}", f"{1e6 * r['wall'] / r['points']:.2f}", f"{r['neuron_steps'] / r['wall'] / 1e6:.3g}",
            f"{r['start_seconds']:.2f}",
            f"{1e3 * (r['task_seconds'] - r['kernel_seconds'] - r['compile_seconds']) / n:.1f}",
            f"{1e3 * (workers * r['wall'] - r['task_seconds']) / n:.1f}",
            f"{1e3 * workers * r['noop_wall'] / n:.2f}",
            f"{r['client_rss_peak_mib']:.0f}", f"{r['client_rss_before_mib']:.0f}",
            f"{r['worker_rss_peak_mib']:.0f}", f"{r['worker_rss_base_mib']:.0f}",
            f"{r['scheduler_rss_peak_mib']:.0f}", f"{r['files']:,}", f"{r['status_objects']:,}",
            f"{r['metadata_bytes'] / 1e3:.1f}", f"{r['bookkeeping_bytes'] / 1e3:.1f}",
            f"{r['data_bytes'] / 1e6:.2f}", f"{r['ok_points']:,}"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    for line in lines:
        print("  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)))


if __name__ == "__main__":
    main()
