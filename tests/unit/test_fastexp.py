"""The vectorisable exponential against numpy's."""

import numpy as np
from numba import njit

from synsweep.engine.fastexp import exp32, exp64


@njit
def _apply64(x, out):
    for i in range(x.size):
        out[i] = exp64(x[i])


@njit
def _apply32(x, out):
    for i in range(x.size):
        out[i] = exp32(x[i])


def test_exp64_relative_error():
    x = np.concatenate([np.linspace(-708, 709, 400_001), np.linspace(-1, 1, 100_001), [0.0, -0.0]])
    out = np.empty_like(x)
    _apply64(x, out)
    assert np.max(np.abs(out / np.exp(x) - 1.0)) < 4e-16


def test_exp32_relative_error():
    x = np.linspace(-87, 88, 400_001).astype(np.float32)
    out = np.empty_like(x)
    _apply32(x, out)
    assert out.dtype == np.float32
    assert np.max(np.abs(out.astype(np.float64) / np.exp(x.astype(np.float64)) - 1.0)) < 2e-7


def test_exp_clamps_instead_of_overflowing():
    out = np.empty(4)
    _apply64(np.array([1e6, -1e6, 710.0, np.nan]), out)
    assert np.isfinite(out[:3]).all() and out[0] > 1e307 and 0.0 < out[1] < 1e-307
    assert np.isnan(out[3])


def test_polynomial_coefficients_are_the_documented_fit():
    """The constants of exp64 / exp32 (C64, C32, constant term first) are fit_coefficients(9) / (4)."""
    from synsweep.engine import fastexp

    for written, degree in ((fastexp.C64, 9), (fastexp.C32, 4)):
        np.testing.assert_allclose(written, fastexp.fit_coefficients(degree), rtol=1e-13, atol=0)
