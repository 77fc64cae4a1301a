"""Counter-based random draws for ``random`` sweep axes.

Draw ``i`` of a random axis is a pure function of ``(seed, axis name, i)``: it does not depend on how the
sweep is chunked, on which worker computes it, on the order draws are made, or on numpy's global state.
That is what lets any chunk of a sweep recompute its own coordinates, and a rerun reproduce them.

The generator, in numpy ``uint64`` arithmetic (all operations wrap modulo 2**64):

    mix(z)     the splitmix64 finaliser: z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27;
               z *= 0x94D049BB133111EB; z ^= z >> 31  (a bijection of 64-bit words with full avalanche)
    stream     the first 8 bytes (little-endian) of sha256(axis name, UTF-8)
    key        mix(mix(seed + G) ^ stream),  G = 0x9E3779B97F4A7C15 (the golden-ratio increment)
    bits(c)    mix(mix(key ^ ((c + 1) * G)) + key)    for counter c = 2 i + word, word in {0, 1}
    uniform    (bits >> 11) * 2**-53, a float64 in [0, 1) on 53 random bits

A uniform draw ``U(low, high)`` is ``low + (high - low) * u`` with the word-0 uniform of its index.
A normal draw ``N(mean, std)`` is Box-Muller from the two uniforms of its index,
``z = sqrt(-2 ln(1 - u0)) cos(2 pi u1)``, rounded to 12 significant digits (so that last-bit differences
between the ``log``/``cos`` of different platforms do not change the coordinates), then ``mean + std z``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
MAX_SEED = 2**64 - 1
MAX_INDEX = 2**62 - 1
DISTRIBUTIONS = {"uniform": ("low", "high"), "normal": ("mean", "std")}


def _u64(x: int | Sequence[int] | np.ndarray) -> np.ndarray:
    """A 1-d uint64 array (arrays, never numpy scalars: array arithmetic wraps silently)."""
    return np.atleast_1d(np.asarray(x, dtype=np.uint64)).ravel()


def mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, element-wise on a uint64 array (returns a new array)."""
    z = np.array(z, dtype=np.uint64, copy=True, ndmin=1)
    z ^= z >> _S30
    z *= _M1
    z ^= z >> _S27
    z *= _M2
    z ^= z >> _S31
    return z


def stream_id(name: str) -> int:
    """The 64-bit stream of an axis: the first 8 bytes of sha256(name), little-endian."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little")


def _key(seed: int, name: str) -> np.ndarray:
    if not 0 <= int(seed) <= MAX_SEED:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    return mix(mix(_u64(seed) + GOLDEN) ^ _u64(stream_id(name)))


def _indices(index: int | Sequence[int] | np.ndarray) -> np.ndarray:
    idx = np.atleast_1d(np.asarray(index)).ravel()
    if idx.size and (idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() > MAX_INDEX):
        raise ValueError(f"draw indices must be integers in [0, 2**62), got {idx!r}")
    return idx.astype(np.uint64)


def random_bits(seed: int, name: str, index: int | Sequence[int] | np.ndarray, word: int = 0) -> np.ndarray:
    """64 random bits (uint64) for each draw index of stream (seed, name); ``word`` 0 or 1."""
    if word not in (0, 1):
        raise ValueError(f"word must be 0 or 1, got {word}")
    key = _key(seed, name)
    counter = _indices(index) * np.uint64(2) + np.uint64(word)
    return mix(mix(key ^ ((counter + np.uint64(1)) * GOLDEN)) + key)


def uniform01(seed: int, name: str, index: int | Sequence[int] | np.ndarray, word: int = 0) -> np.ndarray:
    """float64 uniforms in [0, 1), one per index, from the top 53 of ``random_bits``."""
    return (random_bits(seed, name, index, word) >> _S11).astype(np.float64) * 2.0**-53


def round_significant(x: np.ndarray, digits: int = 12) -> np.ndarray:
    """``x`` rounded to ``digits`` significant decimal digits (0, inf and NaN unchanged), without -0.0."""
    x = np.array(x, dtype=np.float64, copy=True, ndmin=1)
    ok = np.isfinite(x) & (x != 0) & (np.abs(x) > 1e-280)
    exponent = np.floor(np.log10(np.abs(x[ok])))
    scale = 10.0 ** (digits - 1 - exponent)
    x[ok] = np.round(x[ok] * scale) / scale
    return x + 0.0


def draws(seed: int, name: str, index: int | Sequence[int] | np.ndarray, distribution: str,
          **params: float) -> np.ndarray:
    """The draws with indices ``index`` of the random axis ``name``: float64, one per index.

    ``distribution`` 'uniform' takes ``low`` < ``high`` (values in [low, high)); 'normal' takes ``mean``
    and ``std`` >= 0. The result for an index never depends on the other indices asked for.
    """
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"unknown distribution {distribution!r}; known: {', '.join(DISTRIBUTIONS)}")
    if set(params) != set(DISTRIBUTIONS[distribution]):
        raise ValueError(f"{distribution} takes {DISTRIBUTIONS[distribution]}, got {tuple(params)}")
    if distribution == "uniform":
        low, high = float(params["low"]), float(params["high"])
        return low + (high - low) * uniform01(seed, name, index, 0)
    u0 = uniform01(seed, name, index, 0)
    u1 = uniform01(seed, name, index, 1)
    z = round_significant(np.sqrt(-2.0 * np.log1p(-u0)) * np.cos(2.0 * np.pi * u1))
    return float(params["mean"]) + float(params["std"]) * z
