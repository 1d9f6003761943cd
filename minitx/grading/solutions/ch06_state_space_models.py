"""Reference for ch06_state_space_models: each function calls the library.

HiPPO-LegS and the two discretisations are ``minitx.mixers.ssm._hippo``; the S4D
initialisations and the Vandermonde kernel are ``minitx.mixers.ssm.s4d``; the FFT
convolution and its hand-written backward are ``minitx.mixers.ssm._conv.CausalConv``;
the recurrent form of a diagonal SSM runs ``kernels.recurrence.linear_recurrence_forward``
on complex arrays; the LMU matrices are ``minitx.mixers.ssm.lmu``. The functions do not
call one another, so a planted bug in one stays in that one.
"""

import numpy as np

from minitx.autograd.function import Context
from minitx.kernels.recurrence import linear_recurrence_forward
from minitx.mixers.ssm import _hippo, lmu, s4d
from minitx.mixers.ssm._conv import CausalConv


def hippo_legs(N):
    return _hippo.legs_matrices(N)


def discretize_zoh(A, B, dt):
    return _hippo.discretize_zoh(np.asarray(A, float), np.asarray(B, float), dt)


def discretize_bilinear(A, B, dt):
    return _hippo.discretize_bilinear(np.asarray(A, float), np.asarray(B, float), dt)


def s4d_lin_init(N):
    A, _ = s4d.s4d_init("lin", N)
    return A.real.copy(), A.imag.copy()


def s4d_inv_init(N):
    A, _ = s4d.s4d_init("inv", N)
    return A.real.copy(), A.imag.copy()


def vandermonde_kernel(dt, A, B, C, L):
    return s4d.s4d_kernel(np.asarray(dt, float), A, B, C, L)


def fft_causal_conv(u, k):
    return CausalConv.forward(Context(), np.asarray(u, float), np.asarray(k, float))


def causal_conv_backward(u, k, grad):
    ctx = Context()
    ctx.needs_input_grad = (True, True)
    CausalConv.forward(ctx, np.asarray(u, float), np.asarray(k, float))
    return CausalConv.backward(ctx, np.asarray(grad, float))


def diagonal_ssm_scan(dt, A, B, C, u):
    # ZOH, then one complex linear recurrence per (channel, mode): x_t = Abar x_{t-1} + Bbar u_t
    Bsz, T, H = u.shape
    n = A.shape[1]
    z = np.exp(dt[:, None] * A)  # (H, n)
    bbar = (z - 1) / A * B
    a = np.broadcast_to(z.reshape(1, 1, H * n), (Bsz, T, H * n)).astype(complex)
    b = (np.repeat(np.asarray(u, float), n, axis=-1) * bbar.reshape(1, 1, H * n))
    x = linear_recurrence_forward(a, b.astype(complex), None).reshape(Bsz, T, H, n)
    return 2 * (C * x).sum(-1).real


def lmu_matrices(order, theta):
    return lmu.lmu_matrices(order, theta)
