"""cos(2 pi x) and sin(2 pi x) without branches or calls, for the kernels' float64 metrics loop.

x is reduced to y = x - round(x) in [-1/2, 1/2]; the Taylor series of cos and sin at theta = pi y / 2
(|theta| <= pi/4, terms to theta^15, error < 1e-16) are doubled twice (cos 2t = c^2 - s^2, sin 2t = 2 s c):
absolute error < 1e-14, and it vectorises like the rest of the loop (no libm call).
"""

import numpy as np
from numba import njit


@njit(fastmath={"nsz", "arcp", "contract"}, error_model="numpy", inline="always")
def sincos2pi(x):
    y = x - np.floor(x + 0.5)
    t = y * (np.pi / 2.0)
    t2 = t * t
    s = t * (1.0 - t2 / 6.0 * (1.0 - t2 / 20.0 * (1.0 - t2 / 42.0 * (1.0 - t2 / 72.0 * (1.0 - t2 / 110.0 * (
        1.0 - t2 / 156.0 * (1.0 - t2 / 210.0)))))))
    c = 1.0 - t2 / 2.0 * (1.0 - t2 / 12.0 * (1.0 - t2 / 30.0 * (1.0 - t2 / 56.0 * (1.0 - t2 / 90.0 * (
        1.0 - t2 / 132.0 * (1.0 - t2 / 182.0))))))
    s, c = 2.0 * s * c, c * c - s * s
    return 2.0 * s * c, c * c - s * s
