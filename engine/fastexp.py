"""A branch-free exponential that LLVM can vectorise.

numba's ``math.exp`` lowers to a scalar libm call, which stops the batch loop from vectorising (no SVML in
the PyPI wheels). This module gives ``exp64`` and ``exp32`` written so that every operation has a SIMD
form: Cody-Waite range reduction ``x = n ln2 + r`` with ``|r| <= ln2/2``, a Taylor polynomial for
``exp(r)`` and ``2**n`` built directly in the exponent bits.

Accuracy (tested in tests/unit/test_fastexp.py against ``numpy.exp``): relative error < 4e-16 for float64
(degree-13 polynomial) and < 2e-7 for float32 (degree-7), over the whole finite range. Arguments are clamped
to [-708, 709] (float64) and [-87, 88] (float32), so a huge argument gives exp(709) ~ 8e307 rather than
inf, and a very negative one ~3e-308 rather than 0: a diverging point is caught by the engine's bound on
|V|, not by an inf here. NaN propagates.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

LOG2E = 1.4426950408889634
LN2_HI = 0.6931471803691238  # high bits of ln 2 (exact product with n for |n| < 2**20)
LN2_LO = 1.9082149292705877e-10


@intrinsic
def _f64_from_bits(typingctx, bits):
    """Reinterpret the 64 bits of an int64 as a float64 (LLVM bitcast, free in SIMD registers)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@intrinsic
def _f32_from_bits(typingctx, bits):
    """Reinterpret the 32 bits of an int32 as a float32."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@njit(fastmath={"nsz", "contract"}, error_model="numpy")
def exp64(x):
    """exp(x) in float64, vectorisable; see the module docstring for accuracy and clamping."""
    x = min(max(x, -708.0), 709.0)
    n = np.floor(x * LOG2E + 0.5)
    r = (x - n * LN2_HI) - n * LN2_LO
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    k = np.int64(np.int32(n)) + 1023
    return p * _f64_from_bits(k << 52)


@njit(fastmath={"nsz", "contract"}, error_model="numpy")
def exp32(x):
    """exp(x) in float32, vectorisable; see the module docstring for accuracy and clamping."""
    x = min(max(x, np.float32(-87.0)), np.float32(88.0))
    n = np.floor(x * np.float32(LOG2E) + np.float32(0.5))
    r = (x - n * np.float32(0.693359375)) - n * np.float32(-2.12194440e-4)
    p = np.float32(1.0 / 5040.0)
    p = p * r + np.float32(1.0 / 720.0)
    p = p * r + np.float32(1.0 / 120.0)
    p = p * r + np.float32(1.0 / 24.0)
    p = p * r + np.float32(1.0 / 6.0)
    p = p * r + np.float32(0.5)
    p = p * r + np.float32(1.0)
    p = p * r + np.float32(1.0)
    k = np.int32(n) + np.int32(127)
    return p * _f32_from_bits(k << np.int32(23))
