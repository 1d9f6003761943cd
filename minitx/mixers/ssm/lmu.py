"""The Legendre Memory Unit as a mixer, and the LMUFormer block.

Papers: "Legendre Memory Units: Continuous-Time Representation in Recurrent Neural
Networks" (Voelker, Kajic, Eliasmith, 2019); its parallel (convolutional) training from
"Parallelizing Legendre Memory Unit Training" (Chilkuri, Eliasmith, 2021); and
"LMUFormer: Low Complexity Yet Powerful Spiking Model With Legendre Memory Units"
(Liu, Mutlu, Zhang, 2024).

The LMU memory m(t) (N numbers) holds the Legendre coefficients of the input's last
theta seconds, u(t - theta'), 0 <= theta' <= theta. It is the LTI system

    theta m'(t) = A m(t) + B u(t),
    A[i, j] = (2i + 1) * (-1 if i < j else (-1)^(i - j + 1)),    B[i] = (2i + 1) (-1)^i,

read back with shifted Legendre polynomials:  u(t - theta') ~ sum_i m_i(t) P_i(2 theta'/theta - 1)
(``decoder``; tests/test_lmu.py checks it on a delay task). Zero-order hold
with a unit step gives m_t = Abar m_{t-1} + Bbar u_t, and since the system is LTI, the
whole memory sequence is a causal convolution with the impulse response H_l = Abar^l Bbar:
m_t = sum_l H_l u_{t-l} (the parallel form, by FFT).

The mixer drops the LMU's nonlinear feedback (h_{t-1}, m_{t-1} -> u_t), as the parallel
LMU and LMUFormer do, so that training is a convolution:

    u = x W_u  (M memory channels),  m = H * u  (M x N),  y = W_o gelu(m W_m + x W_x)

LMUFormer puts a causal depthwise convolution ("patch embedding") in front of it and can
replace the GELU by a spiking threshold (``spiking=True``: Heaviside forward, sigmoid-slope
surrogate gradient backward). Its spiking neurons are stateless here (no membrane leak),
a simplification of the paper's LIF neurons.

Cost: O(B M N T log T) (FFT convolution) + O(B T d M N) for the read-out; ``step`` O(B M N^2)
per token with an O(B M N) state.

Glossary (code -> paper):
    order (N) d, the memory order;  theta  the window length in steps;
    A, B   the continuous (A, B) divided by theta;  abar, bbar  ZOH-discretised;
    H (N, T) the impulse response;  enc  e_x (W_u);  mem  W_m;  skip  W_x.
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ...autograd.factories import tensor
from ...autograd.function import Function
from ...nn import Linear, Module
from ...nn.conv import CausalConv1d
from ..registry import register
from ._conv import causal_conv
from ._hippo import discretize_zoh

__all__ = ["LMU", "LMUFormer", "lmu_matrices", "lmu_discretized", "impulse_response",
           "decoder", "Spike"]


def lmu_matrices(order, theta):
    """Continuous LMU (A (N, N), B (N,)) with the 1/theta of theta m' = A m + B u folded in."""
    if not isinstance(order, (int, np.integer)) or order < 1:
        raise ValueError(f"lmu: order must be a positive integer, got {order!r}")
    if not theta > 0:
        raise ValueError(f"lmu: theta must be > 0, got {theta!r}")
    i = np.arange(order)[:, None]
    j = np.arange(order)[None, :]
    A = (2 * i + 1) * np.where(i < j, -1.0, (-1.0) ** (i - j + 1))
    B = (2 * np.arange(order) + 1) * (-1.0) ** np.arange(order)
    return A / theta, B / theta


def lmu_discretized(order, theta):
    """ZOH with a unit step: (Abar (N, N), Bbar (N,))."""
    return discretize_zoh(*lmu_matrices(order, theta), 1.0)


def impulse_response(abar, bbar, T):
    """H (N, T), column l = Abar^l Bbar: the memory's response to a unit impulse."""
    H = np.empty((len(bbar), T))
    x = bbar.copy()
    for l in range(T):
        H[:, l] = x
        x = abar @ x
    return H


def decoder(order, delays):
    """(len(delays), N): row r reads u(t - theta' ) from m_t for theta' = delays[r] * theta
    (delays in [0, 1]): the shifted Legendre polynomials P_i(2 delay - 1)."""
    from numpy.polynomial import legendre
    r = 2 * np.asarray(delays, dtype=float) - 1
    return np.stack([legendre.legval(r, np.eye(order)[i]) for i in range(order)], axis=1)


class Spike(Function):
    """Heaviside spike s = (v > 0) with the surrogate gradient ds/dv = sigmoid'(4 v) * 4."""

    @staticmethod
    def forward(ctx, v):
        ctx.save_for_backward(v)
        return (v > 0).astype(v.dtype)

    @staticmethod
    def backward(ctx, g):
        (v,) = ctx.saved
        s = 1 / (1 + np.exp(-4 * v))
        return g * 4 * s * (1 - s)


@register("lmu")
class LMU(Module):
    """LMU memory as a mixer ("Legendre Memory Units"): y = W_o f(W_m (H * x W_u) + W_x x),
    trained as an FFT convolution with the fixed impulse response H (``forward``) or run as
    the recurrence m_t = Abar m_{t-1} + Bbar u_t (``init_state`` / ``step``); they agree.

    Cost in T: O(B M N T log T + B T d M N); ``step`` O(B M N^2 + d M N) per token.
    Options: order (N), theta (window, in steps), memory_size (M, default d_model // 2),
    seed. ``n_heads`` is unused.
    """

    spiking = False
    conv_size = 0

    def __init__(self, d_model, n_heads=1, causal=True, order=8, theta=32.0, memory_size=None,
                 seed=None):
        super().__init__()
        if not causal:
            raise ValueError("lmu is a causal recurrence (accepted: causal=True)")
        gen = np.random.default_rng(seed) if seed is not None else None
        self.d_model, self.order, self.theta = d_model, order, float(theta)
        self.memory_size = M = memory_size or max(1, d_model // 2)
        self.abar, self.bbar = lmu_discretized(order, theta)  # fixed, float64
        self.enc = Linear(d_model, M, generator=gen)  # e_x
        self.mem = Linear(M * order, d_model, generator=gen)  # W_m
        self.skip = Linear(d_model, d_model, bias=False, generator=gen)  # W_x
        self.out = Linear(d_model, d_model, generator=gen)  # W_o

    def _embed(self, x):
        return x

    def _readout(self, m, x):
        """m (..., M N), x (..., d) -> (..., d)."""
        v = self.mem(m) + self.skip(x)
        return self.out(Spike.apply(v) if self.spiking else F.gelu(v))

    def forward(self, x):
        B, T, _ = x.shape
        x = self._embed(x)
        u = self.enc(x)  # (B, T, M)
        M, N = self.memory_size, self.order
        kernel = np.tile(impulse_response(self.abar, self.bbar, T), (M, 1))  # (M N, T)
        u = u.unsqueeze(-1).expand(B, T, M, N).reshape(B, T, M * N)  # each u feeds N kernels
        m = causal_conv(u, tensor(kernel.astype(x.dtype)))  # (B, T, M N)
        return self._readout(m, x)

    def init_state(self, batch):
        return {"m": np.zeros((batch, self.memory_size, self.order))}

    def step(self, x_t, state):
        """x_t (B, d) -> (y_t (B, d), state). The memory update runs in NumPy (decoding)."""
        x_t, state = self._embed_step(x_t, state)
        u = self.enc(x_t).data.astype(np.float64)  # (B, M)
        m = state["m"] @ self.abar.T + u[..., None] * self.bbar  # (B, M, N)
        y = self._readout(tensor(m.reshape(len(m), -1).astype(x_t.dtype)), x_t)
        return y, dict(state, m=m)

    def _embed_step(self, x_t, state):
        return x_t, state

    def extra_repr(self):
        return f"d_model={self.d_model}, order={self.order}, theta={self.theta}, " \
               f"memory_size={self.memory_size}"


@register("lmuformer")
class LMUFormer(LMU):
    """LMUFormer's token mixer ("LMUFormer: Low Complexity Yet Powerful Spiking Model With
    Legendre Memory Units"): a causal depthwise convolution (patch embedding, ``conv_size``
    taps) then the LMU memory mixer, optionally spiking. Same cost as ``lmu`` plus
    O(B T d conv_size)."""

    def __init__(self, d_model, n_heads=1, causal=True, order=8, theta=32.0, memory_size=None,
                 conv_size=3, spiking=False, seed=None):
        super().__init__(d_model, n_heads, causal, order, theta, memory_size, seed)
        if not isinstance(conv_size, int) or conv_size < 1:
            raise ValueError(f"lmuformer: conv_size must be a positive int, got {conv_size!r}")
        gen = np.random.default_rng(seed + 1) if seed is not None else None
        self.conv_size, self.spiking = conv_size, bool(spiking)
        self.embed = CausalConv1d(d_model, conv_size, generator=gen)

    def _embed(self, x):
        return self.embed(x)

    def _embed_step(self, x_t, state):
        conv = state.get("conv")
        if conv is None:
            conv = self.embed.init_state(x_t.shape[0])
        y, conv = self.embed.step(x_t, conv)
        return y, dict(state, conv=conv)
