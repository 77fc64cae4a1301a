"""Where the kernels run: ``cpu`` (numba's CPU target, a chunk's lanes in SIMD tiles) or ``cuda`` (an NVIDIA
GPU through numba-cuda, one lane per thread).

The CUDA back end is optional (``pip install 'synsweep[cuda]'``); nothing here imports ``numba.cuda`` until a
CUDA kernel is asked for. With ``NUMBA_ENABLE_CUDASIM=1`` in the environment before ``numba.cuda`` is first
imported, CUDA kernels run in numba's CUDA simulator: plain Python on the CPU, thousands of times slower than
a GPU, exact enough to test the kernels' arithmetic without a GPU (tests/unit/test_cuda_sim.py).
"""

from __future__ import annotations

import os

DEVICES = ("cpu", "cuda")

CUDA_FIX = ("install the CUDA back end with pip install 'synsweep[cuda]' where the workers run, and run them "
            "where an NVIDIA GPU and its driver are visible (nvidia-smi lists it; a batch job asks for one, e.g. "
            "sbatch --gres=gpu:1, docs/cluster.md); or compute on the CPU with execution.device: cpu "
            "(synsweep run --device cpu)")


class DeviceError(RuntimeError):
    """CUDA kernels were asked for where they cannot run; the message says why and what to do."""


def simulator_enabled() -> bool:
    """Whether CUDA kernels run in numba's CUDA simulator in this process (NUMBA_ENABLE_CUDASIM=1)."""
    import sys

    if "numba.cuda" in sys.modules:  # decided when numba.cuda was imported
        from numba.cuda.core import config

        return bool(config.ENABLE_CUDASIM)
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def cuda_problem() -> str | None:
    """Why CUDA kernels cannot run in this process, in a sentence; None when they can (a GPU, or the
    simulator)."""
    try:
        import numba_cuda  # noqa: F401  (the maintained CUDA target; numba's own copy is deprecated)
    except ImportError:
        return "the package numba-cuda is not installed"
    try:
        from numba import cuda
    except ImportError as exc:  # numba-cuda without its CUDA Python bindings
        return f"numba.cuda cannot be imported ({exc})"
    if simulator_enabled():
        return None
    try:
        available = cuda.is_available()
    except Exception as exc:  # a broken driver installation raises instead of answering
        return f"the CUDA driver could not be loaded ({exc})"
    if not available:
        return "no CUDA GPU is visible to this process (numba.cuda.is_available() is False: no GPU, or no driver)"
    return None


def require_cuda() -> None:
    """Raise ``DeviceError`` (one paragraph: why, and the fix) unless CUDA kernels can run here."""
    problem = cuda_problem()
    if problem is not None:
        raise DeviceError(f"execution.device is cuda, but {problem}. Fix: {CUDA_FIX}.")
