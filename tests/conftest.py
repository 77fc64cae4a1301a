"""Test-wide settings: one kernel cache for the whole run (and for the worker processes it starts)."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

os.environ.setdefault("SYNSWEEP_CACHE_DIR", str(ROOT / ".synsweep-cache"))
os.environ.setdefault("NUMBA_NUM_THREADS", "1")
# CUDA kernels run in numba's CUDA simulator in the tests (exact Python arithmetic, no GPU needed), in this process
# and in the worker processes it starts. numba-cuda reads the variable once, when numba.cuda is first imported, and
# cannot switch after that; tests/integration/test_cuda_gpu.py runs on a real GPU in a subprocess with it at 0.
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
# The suite starts some 60 Python processes that import synsweep (CLI runs, dask workers, helper scripts). Where the
# environment sets PYTHONDONTWRITEBYTECODE, each of them would compile synsweep's and the test modules' source
# again (0.2 s of CPU per process); here the first one writes the bytecode and the others read it.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"the shared folder with reference data is missing: {SHARED}")
    return SHARED


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist's ``--dist loadgroup``: the tests of an integration or end-to-end module stay on one
    test worker, so its module and session fixtures (a single-node SLURM, a TLS cluster, stores built once)
    start once; unit tests are spread test by test."""
    loadgroup = bool(getattr(config.option, "loadgroup", False))  # set on the test workers by xdist
    for item in items:
        path = Path(str(item.fspath))
        if path.parent.name in ("integration", "e2e"):
            item.add_marker(pytest.mark.xdist_group(name=path.stem))
            if loadgroup:
                _group_in_node_id(item, path.stem)


def _group_in_node_id(item: pytest.Item, group: str) -> None:
    """pytest-xdist's loadgroup scheduler reads a test's group from a ``@group`` suffix of its node id, which
    xdist 3.8 writes into ``item._nodeid``; since pytest 9.2 the node id is read from ``item._id``, so the
    suffix never arrives and every group is spread over the workers. Write it where this pytest reads it."""
    if "@" in item.nodeid or not hasattr(item, "_id"):
        return
    from _pytest.nodeid import coerce_node_id  # pytest >= 9.2 only (guarded by the _id attribute above)

    item._id = coerce_node_id(f"{item.nodeid}@{group}")


# --- kernel compile log: SYNSWEEP_KERNEL_LOG=FILE appends, per test, its wall and CPU seconds, the kernels it asked
# for and those it added to the kernel cache (new generated modules, written by this process or by workers/CLI
# processes it started). Run from an empty SYNSWEEP_CACHE_DIR to count compiles; see the README, "Test tiers".
_KERNEL_LOG = os.environ.get("SYNSWEEP_KERNEL_LOG")

if _KERNEL_LOG:
    import json
    import time

    def _cpu_seconds() -> float:
        """CPU time of this process and of its ended, waited-for children (CLI runs and their workers; a module
        fixture's cluster counts where it ends)."""
        import resource

        return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                      resource.getrusage(resource.RUSAGE_CHILDREN)))

    def _cached_modules() -> set[str]:
        directory = Path(os.environ["SYNSWEEP_CACHE_DIR"]) / "kernels"
        return {p.stem for p in directory.glob("synsweep_kernel_*.py")} if directory.is_dir() else set()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
        import importlib

        kernels = importlib.import_module("synsweep.engine.kernels")
        simulate = importlib.import_module("synsweep.engine.simulate")  # the module (the package exports a function)
        asked: list[str] = []
        real_get = kernels.get_kernel

        def logging_get(key):
            asked.append(kernels.kernel_source(key)[0])
            return real_get(key)

        kernels.get_kernel = simulate.get_kernel = logging_get
        before, start, cpu = _cached_modules(), time.perf_counter(), _cpu_seconds()
        try:
            yield
        finally:
            kernels.get_kernel = simulate.get_kernel = real_get
            record = {"test": item.nodeid, "seconds": round(time.perf_counter() - start, 2),
                      "cpu_s": round(_cpu_seconds() - cpu, 2),
                      "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
                      "asked": sorted(set(asked)), "added": sorted(_cached_modules() - before)}
            with open(_KERNEL_LOG, "a") as log:
                log.write(json.dumps(record) + "\n")
