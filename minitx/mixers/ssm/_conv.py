"""Causal convolutions shared by the convolutional SSMs (S4, S4D, LMU, H3, Hyena).

``causal_conv(u, k)``: y[b, t, c] = sum_{l=0}^{t} k[c, l] u[b, t - l, c], computed with
FFTs of length 2T (so the circular convolution never wraps): O(B C T log T) instead of
the direct O(B C T^2). Backward, by hand: a causal convolution's adjoint is a
correlation, which in Fourier space is a product with the complex conjugate,

    du[b, s, c] = sum_{t >= s} g[b, t, c] k[c, t - s]   = irfft(G * conj(Kf))[:T]
    dk[c, l]    = sum_{b, t} g[b, t, c] u[b, t - l, c]  = irfft(sum_b G * conj(Uf))[:T]

Short filters (a few taps) use ``minitx.nn.conv.CausalConv1d`` instead.
"""

from __future__ import annotations

import numpy as np

from ...autograd.function import Function

__all__ = ["CausalConv", "causal_conv", "causal_conv_direct"]


class CausalConv(Function):
    """u (B, T, C), k (C, T) -> y (B, T, C), by FFT with 2T padding."""

    @staticmethod
    def forward(ctx, u, k):
        T = u.shape[1]
        n = 2 * T
        uf = np.fft.rfft(u, n, axis=1)  # (B, T + 1, C)
        kf = np.fft.rfft(k, n, axis=1).T  # (T + 1, C)
        ctx.save_for_backward(uf, kf)
        ctx.T, ctx.dtype = T, u.dtype
        return np.fft.irfft(uf * kf, n, axis=1)[:, :T].astype(u.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        uf, kf = ctx.saved
        T, n = ctx.T, 2 * ctx.T
        gf = np.fft.rfft(g, n, axis=1)  # (B, T + 1, C)
        du = dk = None
        if ctx.needs_input_grad[0]:
            du = np.fft.irfft(gf * kf.conj(), n, axis=1)[:, :T].astype(ctx.dtype, copy=False)
        if ctx.needs_input_grad[1]:
            dk = np.fft.irfft((gf * uf.conj()).sum(0), n, axis=0)[:T].T  # (C, T)
            dk = dk.astype(ctx.dtype, copy=False)
        return du, dk


def causal_conv(u, k):
    """Differentiable causal convolution of u (B, T, C) with one kernel per channel k (C, L),
    L >= T (only the first T taps matter)."""
    B, T, C = u.shape
    if k.ndim != 2 or k.shape[0] != C or k.shape[1] < T:
        raise ValueError(f"causal_conv: kernel shape {tuple(k.shape)} does not fit input "
                         f"{tuple(u.shape)} (accepted: (C, L) with C = {C}, L >= T = {T})")
    if k.shape[1] > T:
        k = k[:, :T]
    return CausalConv.apply(u, k)


def causal_conv_direct(u, k):
    """The definition, for tests: u (B, T, C), k (C, >= T) arrays -> (B, T, C). O(T^2)."""
    B, T, C = u.shape
    y = np.zeros(np.broadcast_shapes(u.shape), dtype=np.result_type(u, k))
    for t in range(T):
        for l in range(t + 1):
            y[:, t] += k[:, l] * u[:, t - l]
    return y
