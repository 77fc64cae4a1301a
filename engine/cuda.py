"""CUDA kernels: generated once per kernel key, compiled by numba-cuda, launched one sweep point per thread.

``get_cuda_kernel(key)`` returns an object whose ``run`` takes the CPU kernel's arguments (numpy arrays X, P,
ACC, REC and the scalars, ``synsweep.engine.simulate``): it copies X, P and ACC to the GPU, launches
``ceil(lanes / THREADS)`` blocks of ``THREADS`` threads, and copies back the final state X, the accumulators
ACC and the traces REC (the only results), into the same numpy arrays.

The generated module (``synsweep.engine.kernel.cuda``) is written to the kernel cache directory
(``synsweep.engine.kernels.cache_dir``) under the hash of its source and compiled with ``cache=True``, so a
worker compiles a kernel once per machine and GPU model. With NUMBA_ENABLE_CUDASIM=1 it runs in numba's CUDA
simulator instead (``synsweep.engine.device``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import time
from types import ModuleType

from .device import require_cuda, simulator_enabled
from .kernel import KernelKey
from .kernel.cuda import generate_cuda
from .kernels import cache_dir, engine_source_hash

THREADS = 128  # threads per block: a few warps; the kernels are register-heavy, so occupancy comes from blocks
CUDA_COMPILE_SECONDS: dict[KernelKey, float] = {}  # per process: generating and compiling (or loading)
_loaded: dict[KernelKey, CudaKernel] = {}


def cuda_kernel_source(key: KernelKey) -> tuple[str, str]:
    """(module name, source) of the CUDA kernel for ``key``."""
    source = generate_cuda(key, engine_source_hash())
    return f"synsweep_cuda_{hashlib.sha256(source.encode()).hexdigest()[:20]}", source


def kernel_module(key: KernelKey) -> ModuleType:
    """The generated module for ``key`` (its ``run`` not compiled yet), written to the cache directory
    (atomically) and imported once per process."""
    name, source = cuda_kernel_source(key)
    module = sys.modules.get(name)
    if module is not None:
        return module
    path = cache_dir() / f"{name}.py"
    if not path.exists() or path.read_text() != source:
        tmp = cache_dir() / f".{name}.{os.getpid()}.tmp"
        tmp.write_text(source)
        os.replace(tmp, path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class CudaKernel:
    """A compiled CUDA kernel with the CPU kernel's calling convention (``run``, see the module docstring)."""

    def __init__(self, key: KernelKey):
        from numba import cuda

        self.key = key
        self.record = bool(key.record)
        self.module = kernel_module(key)
        if simulator_enabled():
            self.kernel = cuda.jit(self.module.run)
        else:  # compiled now (eager signature), or loaded from the cache next to the module
            self.kernel = cuda.jit(self.module.SIGNATURE, cache=True)(self.module.run)

    def run(self, X, P, ACC, *rest) -> None:
        """The CPU kernel's call: X, P, ACC (and REC) to the GPU, one thread per lane, X, ACC (and REC) back into
        the same numpy arrays; ``rest``: REC when the kernel records, then the scalars."""
        from numba import cuda

        lanes = X.shape[1]
        host = [X, ACC]
        arrays = [cuda.to_device(X), cuda.to_device(P), cuda.to_device(ACC)]
        if self.record:  # the traces: written on the device only
            host.append(rest[0])
            arrays.append(cuda.device_array(rest[0].shape, rest[0].dtype))
            rest = rest[1:]
        threads = min(THREADS, max(lanes, 1))
        self.kernel[-(-lanes // threads), threads](*arrays, *rest)
        for h, d in zip(host, [arrays[0], *arrays[2:]], strict=True):
            d.copy_to_host(h)


def get_cuda_kernel(key: KernelKey) -> CudaKernel:
    """The CUDA kernel for ``key``, generated and compiled (or loaded) on first use in this process; raises
    ``synsweep.engine.device.DeviceError`` where CUDA kernels cannot run."""
    kernel = _loaded.get(key)
    if kernel is None:
        require_cuda()
        start = time.perf_counter()
        kernel = _loaded[key] = CudaKernel(key)
        CUDA_COMPILE_SECONDS[key] = time.perf_counter() - start
    return kernel


def compile_cuda_kernel(key: KernelKey) -> None:
    """Compile the CUDA kernel for ``key`` now (``synsweep validate --compile``)."""
    get_cuda_kernel(key)


