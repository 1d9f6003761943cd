"""Mamba-2: the Mamba block rebuilt around SSD, an SSM whose A is a scalar per head.

Paper: "Transformers are SSMs: Generalized Models and Efficient Algorithms Through Structured
State Space Duality" (Dao and Gu, 2024), section 7 (the block) and section 6 (the chunked
SSD algorithm, in ``_ssd.py``).

    z, xBC, dt = in_proj(u)                   all projections at the start of the block
    x, B, C    = SiLU(conv1d(xBC))            one short causal conv over x, B and C
    dt         = softplus(dt + dt_bias)       one step per head
    y          = SSD(x, dt, A, B, C) + D x    scalar A = -exp(A_log) per head
    out        = out_proj(RMSNorm(y * SiLU(z)))     the extra normalisation of Mamba-2

Glossary (code -> paper):
    u        (B, T, d_model)     the block's input
    x        (B, T, H, P)        X per head; d_inner = expand * d_model = H * P
    z        (B, T, d_inner)     the gate
    B, C     (B, T, N)           B and C of the SSM, one group shared by the H heads
    dt       (B, T, H)           Delta, per head (not per channel as in Mamba)
    A        (H,)                a: A_t = exp(dt_t a) I, a = -exp(A_log), a ~ -U(1, 16) at init
    D        (H,)                skip term per head
    h        (B, H, P, N)        the state (recurrent form)

Cost: forward O(T Q (N + P) H) time with chunks of Q steps (O(T) for fixed Q), memory
O(T Q H) for the intra-chunk masks; ``step`` O(H P N) per token with an O(H P N + d_conv
(d_inner + 2N)) state. ``n_heads`` is the number of SSD heads H.
"""

from __future__ import annotations

import math

import numpy as np

from ... import functional as F
from ...autograd.factories import default_generator
from ...autograd.ops_linalg import einsum
from ...nn import Linear, Module, Parameter, RMSNorm
from ...nn.conv import CausalConv1d
from ..registry import register
from ._ssd import ssd_chunked, ssd_matrix, ssd_recurrent_ref
from .mamba import inverse_softplus, keep_init

__all__ = ["Mamba2", "ssd_chunked", "ssd_matrix", "ssd_recurrent_ref"]


def dt_bias_init(n, dt_min, dt_max, rng):
    """softplus^-1 of steps log-uniform in [dt_min, dt_max] (floored at 1e-4)."""
    dt = np.exp(rng.random(n) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
    return inverse_softplus(np.maximum(dt, 1e-4)).astype(np.float32)


def check_ssm_options(name, d_model, n_heads, expand, d_state, d_conv, dt_min, dt_max):
    """Shared checks of Mamba-2 and Hydra; returns d_inner."""
    for label, value in (("d_state", d_state), ("expand", expand), ("d_conv", d_conv),
                         ("n_heads", n_heads)):
        if int(value) < 1:
            raise ValueError(f"{name}: {label} must be a positive integer, got {value}")
    d_inner = int(expand) * d_model
    if d_inner % n_heads:
        raise ValueError(f"{name}: d_inner = expand * d_model = {d_inner} is not divisible by "
                         f"n_heads {n_heads}")
    if not 0 < dt_min <= dt_max:
        raise ValueError(f"{name}: need 0 < dt_min <= dt_max, got {dt_min}, {dt_max}")
    return d_inner


@register("mamba2")
class Mamba2(Module):
    """The Mamba-2 block as a causal token mixer: (B, T, d_model) -> (B, T, d_model)."""

    def __init__(self, d_model, n_heads=1, causal=True, d_state=16, expand=2, d_conv=4,
                 chunk_size=64, dt_min=0.001, dt_max=0.1, A_init_range=(1.0, 16.0), bias=False,
                 conv_bias=True):
        super().__init__()
        if not causal:
            raise ValueError("mamba2 is causal by construction (a left-to-right scan); "
                             "accepted: causal=True (for a bidirectional mixer use 'hydra')")
        self.d_inner = check_ssm_options("mamba2", d_model, n_heads, expand, d_state, d_conv,
                                         dt_min, dt_max)
        self.d_model, self.n_heads, self.d_state = d_model, int(n_heads), int(d_state)
        self.head_dim, self.chunk_size = self.d_inner // self.n_heads, int(chunk_size)
        di, N, H = self.d_inner, self.d_state, self.n_heads
        self.in_proj = Linear(d_model, 2 * di + 2 * N + H, bias=bias)  # -> z, x, B, C, dt
        self.conv = CausalConv1d(di + 2 * N, d_conv, bias=conv_bias)  # over x, B, C
        rng = default_generator()
        self.dt_bias = Parameter(dt_bias_init(H, dt_min, dt_max, rng))
        lo, hi = A_init_range
        self.A_log = Parameter(np.log(rng.uniform(lo, hi, H)).astype(np.float32))  # (H,)
        self.D = Parameter(np.ones(H, np.float32))
        self.norm = RMSNorm(di, eps=1e-5)
        self.out_proj = Linear(di, d_model, bias=bias)
        keep_init(self.dt_bias, self.conv.weight, self.conv.bias)

    def _split(self, zxbcdt):
        di, N, H = self.d_inner, self.d_state, self.n_heads
        return zxbcdt.split([di, di + 2 * N, H], -1)  # z, xBC, dt

    def _finish(self, y, z):
        """y (..., H, P), z (..., d_inner) -> out (..., d_model)."""
        y = y.reshape(*z.shape)  # (..., d_inner)
        return self.out_proj(self.norm(y * F.silu(z)))

    def forward(self, u):
        if u.ndim != 3 or u.shape[-1] != self.d_model:
            raise ValueError(f"mamba2: expected input (B, T, {self.d_model}), got "
                             f"{tuple(u.shape)}")
        batch, T, _ = u.shape
        z, xBC, dt = self._split(self.in_proj(u))
        x, B, C = F.silu(self.conv(xBC)).split([self.d_inner, self.d_state, self.d_state], -1)
        x = x.reshape(batch, T, self.n_heads, self.head_dim)  # (B, T, H, P)
        dt = F.softplus(dt + self.dt_bias)  # (B, T, H)
        A = -self.A_log.exp()  # (H,)
        y = ssd_chunked(x, dt, A, B, C, self.chunk_size) + x * self.D.unsqueeze(-1)
        return self._finish(y, z)

    # ----- recurrent form ----------------------------------------------------------------
    def init_state(self, batch):
        h = np.zeros((batch, self.n_heads, self.head_dim, self.d_state), self.A_log.dtype)
        return {"conv": self.conv.init_state(batch), "h": h}

    def step(self, u_t, state):
        """u_t (B, d_model) -> (out_t (B, d_model), new state); differentiable."""
        batch = u_t.shape[0]
        z, xBC, dt = self._split(self.in_proj(u_t))
        xBC, conv_state = self.conv.step(xBC, state["conv"])
        x, B, C = F.silu(xBC).split([self.d_inner, self.d_state, self.d_state], -1)
        x = x.reshape(batch, self.n_heads, self.head_dim)  # (B, H, P)
        dt = F.softplus(dt + self.dt_bias)  # (B, H)
        decay = (dt * -self.A_log.exp()).exp()  # (B, H): exp(dt a)
        inp = einsum("bhp,bn->bhpn", x * dt.unsqueeze(-1), B)  # dt x B^T
        h = decay.unsqueeze(-1).unsqueeze(-1) * state["h"] + inp  # (B, H, P, N)
        y = einsum("bhpn,bn->bhp", h, C) + x * self.D.unsqueeze(-1)  # (B, H, P)
        return self._finish(y, z), {"conv": conv_state, "h": h}

    def extra_repr(self):
        return (f"d_model={self.d_model}, n_heads={self.n_heads}, head_dim={self.head_dim}, "
                f"d_state={self.d_state}, chunk_size={self.chunk_size}")
