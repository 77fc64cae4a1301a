"""Compiled kernels: generated once per kernel key, compiled once per machine, loaded from disk after that.

The generated module is written to the kernel cache directory under a name made from the hash of its
source (which embeds the hash of the engine's own source), and compiled by numba with ``cache=True``,
so the compiled code lands beside it in ``__pycache__``. Every worker process on the machine that asks
for the same key imports the same file and loads the cached code (~0.2 s) instead of compiling.
A file lock serialises the first compile, so two workers starting cold pay for one compile, not two.
The model functions a kernel calls live in modules of their own, one per model and precision
(``synsweep.engine.kernel.model_modules``), cached the same way: a new kernel of known models compiles
only its own code (an HH pair's model functions are about 10% of its compile).

Cache directory: ``$SYNSWEEP_CACHE_DIR`` if set, else ``~/.cache/synsweep``; it must be writable.
Point it at a shared filesystem to share compiled kernels between the nodes of a cluster.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import llvmlite.binding as llvm

from .kernel import KernelKey, generate, model_modules

_LLVM_OPTIONS = (
    # inline the model functions and exp into the lane loop (numba's default threshold leaves them calls)
    "-inline-threshold=4000",
    # the lane loop touches many rows; raise the budget of runtime alias checks so it still vectorises
    "-vectorize-memory-check-threshold=1000",
    "-runtime-memory-check-threshold=1000",
)
_options_set = False
_INTERLEAVE = re.compile(r"^INTERLEAVE = (\d+)$", re.M)
_loaded: dict[KernelKey, ModuleType] = {}
_GENERATING = threading.RLock()  # generating and loading kernels: one thread of the process at a time
COMPILE_SECONDS: dict[KernelKey, float] = {}


def cache_dir() -> Path:
    """Where generated kernels and their compiled code live."""
    root = os.environ.get("SYNSWEEP_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "synsweep")
    path = Path(root) / "kernels"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _set_llvm_options() -> None:
    global _options_set
    if not _options_set:
        for opt in _LLVM_OPTIONS:
            llvm.set_option("synsweep", opt)
        _options_set = True


@contextmanager
def _interleave(source: str) -> Iterator[None]:
    """Compile under the kernel's own LLVM interleave count (its module constant ``INTERLEAVE``, 0: LLVM's
    choice; ``synsweep.engine.kernel.emit.interleave_count``), then back to LLVM's choice. The count decides
    how many lane vectors one iteration of a lane loop holds: speed only, every lane computes the same."""
    m = _INTERLEAVE.search(source)
    count = int(m.group(1)) if m else 0
    if count:
        llvm.set_option("synsweep", f"-force-vector-interleave={count}")
    try:
        yield
    finally:
        if count:
            llvm.set_option("synsweep", "-force-vector-interleave=0")


def engine_source_hash() -> str:
    """Hash of the engine's source files: a generated kernel is stale when any of them changes."""
    h = hashlib.sha256()
    root = Path(__file__).parent
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def kernel_source(key: KernelKey) -> tuple[str, str]:
    """(module name, source) of the kernel for ``key``."""
    with _GENERATING:  # the generator parses the models' source: Python 3.11's ast is not thread-safe
        source = generate(key, engine_source_hash())
    digest = hashlib.sha256(source.encode()).hexdigest()[:20]
    return f"synsweep_kernel_{digest}", source


def get_kernel(key: KernelKey) -> ModuleType:
    """The kernel module for ``key`` (its ``run`` function is compiled), generating it if needed."""
    if key in _loaded:
        return _loaded[key]
    with _GENERATING:  # one thread of this process at a time (Python 3.11's ast is not thread-safe)
        if key not in _loaded:
            _load(key)
    return _loaded[key]


def _load(key: KernelKey) -> None:
    """Generate, compile or load the kernel for ``key`` into ``_loaded``; called under ``_GENERATING``."""
    _set_llvm_options()
    start = time.perf_counter()
    _import_model_modules(key)
    name, source = kernel_source(key)
    module = _import_generated(name, source)
    COMPILE_SECONDS[key] = time.perf_counter() - start
    _loaded[key] = module


def _import_model_modules(key: KernelKey) -> None:
    """Make the modules of model functions that the kernel for ``key`` imports importable by their names."""
    for name, source, _ in model_modules(key, engine_source_hash()):
        _import_generated(name, source)


def _import_generated(name: str, source: str) -> ModuleType:
    """The generated module ``name`` with ``source``: written to the cache directory if it is not there yet,
    imported once per process (compiling it, or loading its compiled code), one process of the machine at a
    time (a file lock)."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    directory = cache_dir()
    path = directory / f"{name}.py"
    with open(directory / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not path.exists() or path.read_text() != source:
                tmp = directory / f".{name}.{os.getpid()}.tmp"
                tmp.write_text(source)
                os.replace(tmp, path)
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                with _interleave(source):
                    spec.loader.exec_module(module)  # compiles (eager signature) or loads the cached code
            except BaseException:
                del sys.modules[name]
                raise
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return module


def kernel_assembly(key: KernelKey) -> str:
    """Assembly of the kernel for ``key``, compiled afresh (numba cannot inspect code loaded from cache).

    Used by the vectorisation test and ``synsweep validate``; costs one compile.
    """
    import tempfile

    _set_llvm_options()
    with _GENERATING:
        _import_model_modules(key)
    name, source = kernel_source(key)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}_inspect.py"
        path.write_text(source.replace("cache=True", "cache=False"))
        spec = importlib.util.spec_from_file_location(f"{name}_inspect", path)
        module = importlib.util.module_from_spec(spec)
        with _interleave(source):
            spec.loader.exec_module(module)
        return "\n".join(module.run.inspect_asm().values())


def is_cached(key: KernelKey) -> bool:
    """Whether the kernel for ``key`` is compiled in this machine's cache (so a worker loads it in < 1 s)."""
    name, _ = kernel_source(key)
    return any((cache_dir() / "__pycache__").glob(f"{name}.*.nbi"))
