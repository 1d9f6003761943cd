"""Hydra: a bidirectional SSM whose mixing matrix is quasiseparable, built from two SSD scans.

Paper: "Hydra: Bidirectional State Space Models Through Generalized Matrix Mixers" (Hwang,
Lahoti, Dao and Gu, 2024), section 4 (quasiseparable matrix mixers and Hydra).

A causal SSM mixes a sequence by a lower-triangular semiseparable matrix SS. Adding a second
one run on the reversed sequence gives an upper-triangular part, but both would count the
diagonal, and their diagonals are tied to the rank structure. Hydra instead shifts each scan
by one step, so each part is strictly triangular, and adds a free diagonal:

    QS(X) = shift(SS_fw(X)) + flip(shift(SS_bw(flip(X)))) + diag(d) X

Entry by entry, per head (a = the head's scalar A, dt/B/C of each direction):

    M[t, s] = (C_fw[t-1] . B_fw[s]) exp(a (dt_fw[s+1] + ... + dt_fw[t-1])) dt_fw[s]   s < t
    M[t, t] = d_t = D + fc_D(x_t)          (data dependent, per head)
    M[t, s] = (C_bw[t+1] . B_bw[s]) exp(a (dt_bw[t+1] + ... + dt_bw[s-1])) dt_bw[s]   s > t

Every output sees the whole sequence, so Hydra has no causal mode and no step():
``causal_capable = False``. As in the paper's code, the short convolution in front is
centred (d_conv odd, d_conv // 2 on each side), the two directions have their own B, C and
dt and share A, and the output is RMSNorm(y) * SiLU(z) before out_proj.

Glossary (code -> paper):
    u                  (B, T, d_model)   input
    x                  (B, T, H, P)      X per head, d_inner = expand * d_model = H * P
    z                  (B, T, d_inner)   the gate
    B_fw, C_fw, B_bw, C_bw  (B, T, N)    B and C of the forward and the backward SSM
    dt_fw, dt_bw       (B, T, H)         Delta of each direction (in the original time order)
    A                  (H,)              a = -exp(A_log), shared by both directions
    diag               (B, T, H)         the diagonal D + fc_D(x)
    M                  (B, H, T, T)      the quasiseparable matrix (``quasiseparable_matrix``)

Cost: two SSD passes, O(T Q (N + P) H) time with chunks of Q steps (linear in T); the
materialised M is O(T^2) and only for tests and pictures.
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ...autograd.factories import default_generator
from ...autograd.ops_shape import cat
from ...autograd.tensor import Tensor
from ...nn import Linear, Module, Parameter, RMSNorm
from ...nn.conv import causal_conv1d, CausalConv1d
from ..registry import register
from ._ssd import ssd_chunked, ssd_matrix
from .mamba import keep_init
from .mamba2 import check_ssm_options, dt_bias_init

__all__ = ["Hydra", "quasiseparable_matrix", "shift_down"]


def shift_down(y):
    """y (B, T, ...) -> y shifted one step later in time, zeros at t = 0."""
    zeros = Tensor._from_array(np.zeros((y.shape[0], 1) + tuple(y.shape[2:]), y.dtype))
    return cat([zeros, y[:, :-1]], dim=1)


def quasiseparable_matrix(dt_fw, dt_bw, A, B_fw, C_fw, B_bw, C_bw, diag):
    """M (B, H, T, T) of Hydra's mixer from arrays (NumPy): y[:, :, h] = M[:, h] @ x[:, :, h]."""
    lower = ssd_matrix(dt_fw, A, B_fw, C_fw)  # (B, H, T, T), the forward SS
    lower = np.concatenate([np.zeros_like(lower[:, :, :1]), lower[:, :, :-1]], 2)  # shift
    rev = lambda a: a[:, ::-1]
    upper = ssd_matrix(rev(dt_bw), A, rev(B_bw), rev(C_bw))  # SS of the reversed sequence
    upper = np.concatenate([np.zeros_like(upper[:, :, :1]), upper[:, :, :-1]], 2)
    upper = upper[:, :, ::-1, ::-1]  # flip(shift(SS(flip X))) as a matrix: reverse both axes
    T = dt_fw.shape[1]
    return lower + upper + np.eye(T) * diag.transpose(0, 2, 1)[..., None]


@register("hydra")
class Hydra(Module):
    """Hydra as a bidirectional token mixer: (B, T, d_model) -> (B, T, d_model)."""

    causal_capable = False

    def __init__(self, d_model, n_heads=1, causal=False, d_state=16, expand=2, d_conv=7,
                 chunk_size=64, dt_min=0.001, dt_max=0.1, bias=False, conv_bias=True):
        super().__init__()
        if causal:
            raise ValueError("hydra is bidirectional by construction (every output sees the "
                             "whole sequence), so it cannot be causal; accepted: causal=False")
        self.d_inner = check_ssm_options("hydra", d_model, n_heads, expand, d_state, d_conv,
                                         dt_min, dt_max)
        if int(d_conv) % 2 == 0:
            raise ValueError(f"hydra: d_conv must be odd (a centred convolution), got {d_conv}")
        self.d_model, self.n_heads, self.d_state = d_model, int(n_heads), int(d_state)
        self.head_dim, self.chunk_size = self.d_inner // self.n_heads, int(chunk_size)
        di, N, H = self.d_inner, self.d_state, self.n_heads
        self.in_proj = Linear(d_model, 2 * di + 4 * N + 2 * H, bias=bias)  # z, xBC, dt
        self.conv = CausalConv1d(di + 4 * N, d_conv, bias=conv_bias)  # used centred
        self.dt_bias = Parameter(dt_bias_init(H, dt_min, dt_max, default_generator()))
        self.A_log = Parameter(np.zeros(H, np.float32))  # A = -1 at init, as the paper's code
        self.D = Parameter(np.ones(H, np.float32))
        self.fc_D = Linear(di, H, bias=False)  # data-dependent part of the diagonal
        self.norm = RMSNorm(di, eps=1e-5)
        self.out_proj = Linear(di, d_model, bias=bias)
        keep_init(self.dt_bias, self.conv.weight, self.conv.bias)

    def _centred_conv(self, xBC):
        """Depthwise conv with d_conv // 2 inputs on each side: the causal conv of the input
        padded with that many zeros at the end, read that many steps later."""
        pad = self.conv.kernel_size // 2
        if pad == 0:
            return self.conv(xBC)
        batch, _, width = xBC.shape
        tail = Tensor._from_array(np.zeros((batch, pad, width), xBC.dtype))
        y = causal_conv1d(cat([xBC, tail], dim=1), self.conv.weight, self.conv.bias)
        return y[:, pad:]

    def mixer_inputs(self, u):
        """u (B, T, d_model) -> dict of what defines M and what surrounds it (tensors):
        x (B, T, H, P), z, dt_fw, dt_bw (B, T, H), A (H,), B_fw, C_fw, B_bw, C_bw (B, T, N),
        diag (B, T, H)."""
        batch, T, _ = u.shape
        di, N, H = self.d_inner, self.d_state, self.n_heads
        z, xBC, dt = self.in_proj(u).split([di, di + 4 * N, 2 * H], -1)
        x, B_fw, C_fw, B_bw, C_bw = F.silu(self._centred_conv(xBC)).split([di, N, N, N, N], -1)
        dt_fw, dt_bw = (F.softplus(d + self.dt_bias) for d in dt.split([H, H], -1))
        diag = self.fc_D(x) + self.D  # (B, T, H)
        x = x.reshape(batch, T, H, self.head_dim)  # (B, T, H, P)
        return dict(x=x, z=z, dt_fw=dt_fw, dt_bw=dt_bw, A=-self.A_log.exp(), B_fw=B_fw,
                    C_fw=C_fw, B_bw=B_bw, C_bw=C_bw, diag=diag)

    def mix(self, p):
        """y = QS(x) (B, T, H, P) from ``mixer_inputs``: two SSD scans, shifted, plus diag."""
        batch = p["x"].shape[0]
        flip = lambda t: t.flip(1)
        # both directions in one SSD call: the reversed sequence as more batch elements
        x2 = cat([p["x"], flip(p["x"])], dim=0)  # (2B, T, H, P)
        dt2 = cat([p["dt_fw"], flip(p["dt_bw"])], dim=0)
        B2 = cat([p["B_fw"], flip(p["B_bw"])], dim=0)
        C2 = cat([p["C_fw"], flip(p["C_bw"])], dim=0)
        y2 = shift_down(ssd_chunked(x2, dt2, p["A"], B2, C2, self.chunk_size))
        y_fw, y_bw = y2[:batch], flip(y2[batch:])
        return y_fw + y_bw + p["x"] * p["diag"].unsqueeze(-1)

    def forward(self, u):
        if u.ndim != 3 or u.shape[-1] != self.d_model:
            raise ValueError(f"hydra: expected input (B, T, {self.d_model}), got "
                             f"{tuple(u.shape)}")
        p = self.mixer_inputs(u)
        y = self.mix(p).reshape(*p["z"].shape)  # (B, T, d_inner)
        return self.out_proj(self.norm(y) * F.silu(p["z"]))

    def extra_repr(self):
        return (f"d_model={self.d_model}, n_heads={self.n_heads}, head_dim={self.head_dim}, "
                f"d_state={self.d_state}, d_conv={self.conv.kernel_size}")
