"""``exp_lite``: a shorter vectorisable exp for the scan kernels, where exp is most of the work.

The selective scan evaluates exp(delta A) once per state update, so exp sets its speed.
``_math.exp`` is exact to a few ulp over the whole float range (two-part scaling, NaN check);
this one drops what the scan does not need and keeps only multiply-adds and bit operations:

    x clamped to [lo, hi] (float32: [-87, 88]; float64: [-707, 709]), so 2**n is one
    normal float: below lo it returns exp(lo) (~1.6e-38 in float32) instead of a smaller
    number or 0, above hi exp(hi) instead of inf;
    n = round(x / ln 2) by the "magic number" trick: t = x log2(e) + 1.5 * 2**23 rounds to
    an integer in float arithmetic, n = t - 1.5 * 2**23, and the low bits of t's bit
    pattern hold n, so 2**n = bits((bits(t) - bits(magic) + bias) << mantissa_bits);
    r = x - n ln 2 in two parts (Cody-Waite), |r| <= ln 2 / 2;
    exp(r) by its Taylor polynomial, degree 6 (float32) or 13 (float64).

Accuracy inside [lo, hi]: < 2 ulp in float32, a few ulp in float64 (tests/test_selective_scan.py).
The trick needs exact float rounding, so it is compiled without ``reassoc`` even when the
calling kernel uses it (Numba compiles the overload with its own flags). A NaN input gives a
meaningless number, not NaN; the scan still propagates NaN through its other terms.
Under ``NUMBA_DISABLE_JIT=1`` it is ``np.exp`` of the clamped x.
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
from numba import types
from numba.extending import overload

__all__ = ["exp_lite"]

_LN2 = Decimal("0.6931471805599453094172321214581765680755")


_RANGE = {np.dtype(np.float32): (-87.0, 88.0), np.dtype(np.float64): (-707.0, 709.0)}


def exp_lite(x):
    """e**x for one float, x clamped to the range above (see the module docstring). This
    Python body (np.exp of the clamped x) is what runs under NUMBA_DISABLE_JIT=1."""
    lo, hi = _RANGE[np.asarray(x).dtype]
    return np.exp(min(max(x, x.dtype.type(lo)), x.dtype.type(hi)))


def _make(float_t, int_t, lo, hi, bias, mantissa_bits, hi_bits, degree):
    magic = float_t(1.5 * 2.0 ** mantissa_bits)
    offset = int_t(bias) - np.array(magic).view(int_t)  # bits(t) + offset = n + bias
    shift = int_t(mantissa_bits)
    log2e, lo, hi = float_t(1 / math.log(2)), float_t(lo), float_t(hi)
    ln2_hi = float_t(round(float(_LN2) * 2**hi_bits) / 2**hi_bits)  # n * ln2_hi is exact
    ln2_lo = float_t(float(_LN2 - Decimal(float(ln2_hi))))
    taylor = tuple(float_t(1 / math.factorial(k)) for k in range(degree, -1, -1))

    def impl(x):
        xc = min(max(x, lo), hi)
        t = xc * log2e + magic  # rounds x / ln 2 to an integer (in the low bits of t)
        n = t - magic
        r = (xc - n * ln2_hi) - n * ln2_lo
        p = taylor[0]
        for coef in taylor[1:]:
            p = p * r + coef  # Horner: p = exp(r)
        bits = int_t(float_t(t).view(int_t) + offset)  # n + bias
        return p * int_t(bits << shift).view(float_t)  # exp(r) * 2**n

    return impl


_EXP32 = _make(np.float32, np.int32, -87.0, 88.0, 127, 23, 11, 6)
_EXP64 = _make(np.float64, np.int64, -707.0, 709.0, 1023, 52, 32, 13)


@overload(exp_lite, jit_options=dict(fastmath={"contract"}, error_model="numpy"))
def _exp_lite_overload(x):
    if isinstance(x, types.Float):
        return _EXP32 if x.bitwidth == 32 else _EXP64
    return None
