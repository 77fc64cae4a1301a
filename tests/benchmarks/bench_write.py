"""Write cost per task: one task block written into a sharded store and into the unsharded layout, alternately,
in one process (ratios in the same run), on local disk or on S3 (moto on 127.0.0.1).

    python tests/benchmarks/bench_write.py [--points 10000000] [--blocks 60] [--stores disk s3]

The sweep of bench_scale (HH pair, every metric, no traces) at ``--points``; the blocks written are the first
``--blocks`` of its chunk plan, so a sharded store's tasks share shards as in a real run. Each write is
``store.write_block`` plus ``store.mark_done``, what a task does after its kernel. Prints the median time per
task of each layout and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_scale import spec_doc, start_s3  # noqa: E402

from synsweep.sweeps import load_spec, store  # noqa: E402
from synsweep.sweeps.chunks import plan_chunks  # noqa: E402
from synsweep.sweeps.location import location  # noqa: E402


def block_arrays(spec, n: int) -> dict[str, np.ndarray]:
    """Values of the right dtypes and shapes for ``n`` points (what the kernel would hand over)."""
    names = store.block_variables(spec, None)
    rng = np.random.default_rng(0)
    out = {}
    for name in names:
        dtype = {"status": np.int8, "diverged_step": np.int64}.get(name)
        entity = {"neuron": 2, "pair": 1}.get(store.METRICS[name].dim, 0) if name in store.METRICS else 0
        shape = (n, entity) if entity else (n,)
        dtype = dtype or store.METRICS[name].dtype
        out[name] = (rng.random(shape) * 100).astype(dtype)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=10_000_000)
    parser.add_argument("--blocks", type=int, default=60)
    parser.add_argument("--stores", nargs="+", choices=["disk", "s3"], default=["disk", "s3"])
    args = parser.parse_args()
    spec = load_spec(spec_doc(args.points, 4096, 20))
    plan = plan_chunks(spec)
    tmp = Path(tempfile.mkdtemp(prefix="bench_write_"))
    server = None
    for where in args.stores:
        if where == "s3" and server is None:
            server, _ = start_s3({}, tmp)
        urls = {}
        for layout, shard_points in (("sharded", 1 << 17), ("unsharded", 1)):
            store.SHARD_POINTS = shard_points
            urls[layout] = str(tmp / f"{layout}.zarr") if where == "disk" else f"s3://bench/write-{layout}.zarr"
            location(urls[layout]).remove_all() if location(urls[layout]).exists() else None
            store.create_store(spec, plan, urls[layout])
        shards = {layout: store.store_shards(url, plan) for layout, url in urls.items()}
        times: dict[str, list[float]] = {layout: [] for layout in urls}
        for chunk_id, index in list(plan.blocks())[: args.blocks]:
            arrays = block_arrays(spec, int(np.prod(plan.block_shape(index))))
            for layout, url in urls.items():
                t0 = time.perf_counter()
                store.write_block(url, index, arrays)
                store.mark_done(url, chunk_id, {"chunk_id": chunk_id}, store.record_name(plan, shards[layout], index))
                times[layout].append(time.perf_counter() - t0)
        med = {layout: statistics.median(t) * 1e3 for layout, t in times.items()}
        print(f"{where}: {args.blocks} blocks of {plan.chunk_shape}: write per task sharded {med['sharded']:.0f} ms, "
              f"unsharded {med['unsharded']:.0f} ms, ratio {med['sharded'] / med['unsharded']:.2f}")
    if server is not None:
        server.terminate()


if __name__ == "__main__":
    main()
