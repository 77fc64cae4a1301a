"""Scalar helper functions shared by model equations (copied into generated kernels with the models)."""

import numpy as np


def exprel_inv(x, ex):
    """x / (exp(x) - 1) given ex = exp(x), continuous through its removable singularity at x = 0 (value 1).

    For |x| < 0.1 the Taylor series 1 - x/2 + x^2/12 - x^4/720 + x^6/30240 - x^8/1209600 is used (error
    < 3e-17 relative); outside it the direct formula, whose cancellation error is < 3e-15 there.
    """
    x2 = x * x
    series = 1.0 - 0.5 * x + x2 * (1.0 / 12.0 - x2 * (1.0 / 720.0 - x2 * (1.0 / 30240.0 - x2 / 1209600.0)))
    direct = x / (ex - 1.0)
    return series if abs(x) < 0.1 else direct


def whole_steps(duration, dt):
    """The number of whole steps of ``dt`` nearest to ``duration`` (refractory periods, transmitter pulses)."""
    return np.floor(duration / dt + 0.5)
