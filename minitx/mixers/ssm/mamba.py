"""Mamba: a gated block around a selective state space model.

Paper: "Mamba: Linear-Time Sequence Modeling with Selective State Spaces" (Gu and Dao, 2023),
section 3.4 (the block, figure 3) and Algorithm 2 (the selective SSM).

    x, z   = in_proj(u)                               two branches of width d_inner
    x      = SiLU(conv1d(x))                          short causal depthwise convolution
    (delta_r, B, C) = x_proj(x)                       the selection: B, C and Delta depend on x
    Delta  = softplus(dt_proj(delta_r))               (low rank: dt_rank << d_inner)
    y      = SSM(A, B, C, D, Delta)(x)                h_t = exp(Delta_t A) h_{t-1} + Delta_t B_t x_t
                                                      y_t = C_t . h_t + D x_t
    out    = out_proj(y * SiLU(z))                    gated by the other branch

Glossary (code -> paper):
    u        (B, T, d_model)       the block's input
    x, z     (B, T, d_inner)       the SSM branch and the gate branch, d_inner = expand * d_model
    conv     CausalConv1d(d_inner, d_conv)
    delta    (B, T, d_inner)       Delta = softplus(Parameter + s_Delta(x)), s_Delta low rank
    A        (d_inner, N)          A = -exp(A_log): real, negative, diagonal; S4D-real init
                                   A[d, n] = -(n + 1)
    B, C     (B, T, N)             B = s_B(x), C = s_C(x), shared by all channels of a token
    D        (d_inner,)            the skip term, init 1
    h        (B, d_inner, N)       the state (recurrent form)
    N        d_state (16)

Cost: forward and backward O(T d_inner N) time (one scan; no T x T matrix), O(T d_inner)
memory saved for backward (the scan recomputes its states); ``step`` O(d_inner N) per token
with an O(d_inner (N + d_conv)) state. ``n_heads`` is accepted for the common interface and
unused: the SSM is per channel.
"""

from __future__ import annotations

import math

import numpy as np

from ... import functional as F
from ...autograd.factories import default_generator
from ...nn import Linear, Module, Parameter, init
from ...nn.conv import CausalConv1d
from ..registry import register
from ._scan_ops import selective_scan

__all__ = ["Mamba", "selective_scan"]


def keep_init(*params):
    """Mark parameters whose paper initialisation a model-wide re-initialisation should leave
    alone (``p._no_reinit = True``, the flag mamba_ssm uses): the step-size projection and
    bias, and the short convolution."""
    for p in params:
        if p is not None:
            p._no_reinit = True


def inverse_softplus(y):
    """The x with softplus(x) = y (y > 0): x = y + log(1 - exp(-y))."""
    return y + np.log(-np.expm1(-y))


@register("mamba")
class Mamba(Module):
    """The Mamba block as a token mixer: (B, T, d_model) -> (B, T, d_model), causal."""

    def __init__(self, d_model, n_heads=1, causal=True, d_state=16, expand=2, d_conv=4,
                 dt_rank=None, dt_min=0.001, dt_max=0.1, bias=False, conv_bias=True):
        super().__init__()
        if not causal:
            raise ValueError("mamba is causal by construction (a left-to-right scan); "
                             "accepted: causal=True (for a bidirectional mixer use 'hydra')")
        for name, value in (("d_state", d_state), ("expand", expand), ("d_conv", d_conv)):
            if int(value) < 1:
                raise ValueError(f"mamba: {name} must be a positive integer, got {value}")
        if not 0 < dt_min <= dt_max:
            raise ValueError(f"mamba: need 0 < dt_min <= dt_max, got {dt_min}, {dt_max}")
        self.d_model, self.d_state = d_model, int(d_state)
        self.d_inner = int(expand) * d_model
        self.dt_rank = math.ceil(d_model / 16) if dt_rank is None else int(dt_rank)
        di, N, R = self.d_inner, self.d_state, self.dt_rank
        self.in_proj = Linear(d_model, 2 * di, bias=bias)  # -> x, z
        self.conv = CausalConv1d(di, d_conv, bias=conv_bias)
        self.x_proj = Linear(di, R + 2 * N, bias=False)  # -> delta_r, B, C
        self.dt_proj = Linear(R, di, bias=True)
        self.out_proj = Linear(di, d_model, bias=bias)
        self._init_dt(dt_min, dt_max)
        A = np.tile(np.arange(1, N + 1, dtype=np.float32), (di, 1))  # S4D-real: -A = 1..N
        self.A_log = Parameter(np.log(A))  # (d_inner, N)
        self.D = Parameter(np.ones(di, np.float32))
        keep_init(self.dt_proj.weight, self.dt_proj.bias, self.conv.weight, self.conv.bias)

    def _init_dt(self, dt_min, dt_max):
        """dt_proj as in the paper's code: weight ~ U(+-1/sqrt(dt_rank)), and a bias making
        softplus(bias) log-uniform in [dt_min, dt_max]."""
        bound = self.dt_rank ** -0.5
        init.uniform_(self.dt_proj.weight, -bound, bound)
        u = default_generator().random(self.d_inner)
        dt = np.exp(u * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        self.dt_proj.bias.data[...] = inverse_softplus(np.maximum(dt, 1e-4))

    # ----- pieces shared by the parallel and recurrent forms -----------------------------
    def _selection(self, x):
        """x (..., d_inner) -> delta (..., d_inner), B, C (..., N)."""
        R, N = self.dt_rank, self.d_state
        delta_r, B, C = self.x_proj(x).split([R, N, N], -1)
        delta = F.softplus(self.dt_proj(delta_r))  # (..., d_inner), > 0
        return delta, B, C

    def A(self):
        return -self.A_log.exp()  # (d_inner, N), negative

    def forward(self, u):
        if u.ndim != 3 or u.shape[-1] != self.d_model:
            raise ValueError(f"mamba: expected input (B, T, {self.d_model}), got {tuple(u.shape)}")
        x, z = self.in_proj(u).split([self.d_inner, self.d_inner], -1)  # (B, T, d_inner) each
        x = F.silu(self.conv(x))
        delta, B, C = self._selection(x)  # (B, T, d_inner), (B, T, N), (B, T, N)
        y = selective_scan(x, delta, self.A(), B, C, self.D)  # (B, T, d_inner)
        return self.out_proj(y * F.silu(z))

    # ----- recurrent form: O(1) per token -------------------------------------------------
    def init_state(self, batch):
        """The last d_conv - 1 conv inputs and the SSM state, all zeros."""
        h = np.zeros((batch, self.d_inner, self.d_state), self.A_log.dtype)
        return {"conv": self.conv.init_state(batch), "h": h}

    def step(self, u_t, state):
        """u_t (B, d_model) -> (out_t (B, d_model), new state); differentiable."""
        x, z = self.in_proj(u_t).split([self.d_inner, self.d_inner], -1)  # (B, d_inner) each
        x, conv_state = self.conv.step(x, state["conv"])
        x = F.silu(x)
        delta, B, C = self._selection(x)  # (B, d_inner), (B, N), (B, N)
        dA = (delta.unsqueeze(-1) * self.A()).exp()  # (B, d_inner, N): A_bar = exp(Delta A)
        dBx = (delta * x).unsqueeze(-1) * B.unsqueeze(1)  # (B, d_inner, N): B_bar x = Delta B x
        h = dA * state["h"] + dBx
        y = (h * C.unsqueeze(1)).sum(-1) + self.D * x  # (B, d_inner)
        return self.out_proj(y * F.silu(z)), {"conv": conv_state, "h": h}

    def extra_repr(self):
        return (f"d_model={self.d_model}, d_inner={self.d_inner}, d_state={self.d_state}, "
                f"dt_rank={self.dt_rank}, d_conv={self.conv.kernel_size}")
