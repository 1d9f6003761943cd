"""pLSTM in one dimension: a linear RNN whose input, carry and output are gated by Source,
Transition and Mark gates, computed in parallel through a materialised T x T gating matrix.

Paper: "pLSTM: parallelizable Linear Source Transition Mark networks" (Poeppel, Freinschlag,
Schmied, Lin, Hochreiter, 2025). On a DAG's line graph a state flows along edges; on a 1-D
sequence (a chain) it is a matrix memory per head, with scalar gates per token and head:

    C_t = T_t C_{t-1} + S_t k_t v_t^T                           (recurrence; C_{-1} = 0)
    y_t = M_t (q_t . C_{t-1}) / sqrt(d) + D_t (q_t . k_t) v_t / sqrt(d)

Unrolled, output t reads token s < t through the gate product  M_t T_{t-1} ... T_{s+1} S_s,
and itself through the direct gate D_t:

    y_t = sum_s G[t, s] (q_t . k_s) v_s / sqrt(d),
    G[t, s] = M_t exp(L_{t-1} - L_s) S_s   (s < t),   G[t, t] = D_t,   0 above the diagonal,

with L_t = sum_{r <= t} log T_r. This matches the paper's code, where chunks carry the state
C of the previous chunk and a chunk's own tokens use the gating matrix G (which the paper
builds level by level, in log depth; here it is materialised directly from cumulative sums,
over the whole sequence or, in the chunkwise form, inside chunks of ``chunk`` tokens with C
carried between chunks).
The gates are scalar per head (the paper also allows small transition matrices, and a
D-mode for DAGs that on a chain is not needed): S, M, D = sigmoid(linear(x)),
T = sigmoid(linear(x)) in (0, 1), so the carry never grows (the P-mode condition |T| <= 1).

Glossary (code -> paper):
    q, k, v    (B, T, H, d)     query, key, value
    S, T_, M, D  (B, T, H)      Source, Transition, Mark, Direct gates (T_ to not clash with T)
    logT       (B, T, H)        log T_t (a log-sigmoid, <= 0)
    G          (B, H, T, T)     the gating matrix; C (B, H, d, d) the state

Cost in T: parallel form O(T^2 H d) time and O(H T^2) memory; chunkwise form (chunk c)
O(T c H d + T H d^2) time and O(T c H) memory; ``step`` O(H d^2) per token with an O(H d^2)
state.
"""

from __future__ import annotations

import math

import numpy as np

from ... import functional as F
from ...autograd.factories import zeros
from ...autograd.ops_linalg import einsum
from ...autograd.ops_shape import cat, stack
from ...nn import Linear, Module
from ..registry import register

__all__ = ["PLSTM", "gating_matrix"]


def gating_matrix(S, logT, M, D):
    """S, logT, M, D (B, T, H) -> G (B, H, T, T) with G[t, s] = M_t exp(L_{t-1} - L_s) S_s
    for s < t, D_t on the diagonal, 0 above it."""
    T = S.shape[1]
    L = logT.cumsum(1).permute(0, 2, 1)  # (B, H, T): L_t
    prev = L - logT.permute(0, 2, 1)  # (B, H, T): L_{t-1}
    expo = prev.unsqueeze(-1) - L.unsqueeze(-2)  # (B, H, T, T): L_{t-1} - L_s
    strictly_lower = np.tril(np.ones((T, T), bool), -1)
    decay = expo.masked_fill(~strictly_lower, -1e30).exp()  # 0 where s >= t
    G = M.permute(0, 2, 1).unsqueeze(-1) * decay * S.permute(0, 2, 1).unsqueeze(-2)
    return G + np.eye(T) * D.permute(0, 2, 1).unsqueeze(-1)  # (B, H, T, T)


@register("plstm")
class PLSTM(Module):
    """1-D pLSTM as a causal token mixer (B, T, d_model) -> (B, T, d_model); parallel form
    via the gating matrix (``chunk=None``) or chunkwise (``chunk=c``), recurrent form via
    ``init_state``/``step``; all three agree."""

    def __init__(self, d_model, n_heads=1, causal=True, transition_bias=3.0, chunk=None):
        super().__init__()
        if not causal:
            raise ValueError("plstm (1-D) is a left-to-right recurrence (accepted: causal=True)")
        if d_model % n_heads:
            raise ValueError(f"plstm: d_model {d_model} not divisible by n_heads {n_heads}")
        if chunk is not None and int(chunk) < 1:
            raise ValueError(f"plstm: chunk must be a positive integer or None, got {chunk}")
        self.d_model, self.H, self.d = d_model, n_heads, d_model // n_heads
        self.chunk = None if chunk is None else int(chunk)
        self.qkv = Linear(d_model, 3 * d_model, bias=False)
        self.gates = Linear(d_model, 4 * n_heads)  # -> S, T, M, D pre-activations
        # a positive transition bias starts the carry near 1 (long memory), as forget gates do
        self.gates.bias.data[n_heads:2 * n_heads] = transition_bias
        self.out = Linear(d_model, d_model, bias=False)

    def _project(self, x):
        """x (..., d_model) -> q, k, v (..., H, d) and gates S, logT, M, D (..., H)."""
        H, d = self.H, self.d
        q, k, v = (a.reshape(*a.shape[:-1], H, d)
                   for a in self.qkv(x).split([self.d_model] * 3, -1))  # (..., H, d) each
        s, t, m, dd = self.gates(x).split([H] * 4, -1)  # (..., H) each
        logT = -F.softplus(-t)  # log sigmoid(t)
        return q, k, v, s.sigmoid(), logT, m.sigmoid(), dd.sigmoid()

    def forward(self, x):
        if x.ndim != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"plstm: expected input (B, T, {self.d_model}), got {tuple(x.shape)}")
        if self.chunk is not None:
            return self.chunked(x, self.chunk)
        B, T, _ = x.shape
        return self.out(self._mix(*self._project(x)).reshape(B, T, self.d_model))

    def _mix(self, q, k, v, S, logT, M, D):
        """The gating-matrix form on (B, T, H, d) / (B, T, H) pieces -> (B, T, H, d)."""
        scores = einsum("bthd,bshd->bhts", q, k) / math.sqrt(self.d)  # (B, H, T, T)
        return einsum("bhts,bshd->bthd", scores * gating_matrix(S, logT, M, D), v)

    def chunked(self, x, chunk):
        """The chunkwise form: the gating matrix inside chunks of ``chunk`` tokens, the state
        C carried from chunk to chunk. O(T chunk H d + T H d^2) time."""
        B, T, _ = x.shape
        H, d, c = self.H, self.d, int(chunk)
        n = -(-T // c)
        if n * c > T:  # zeros after the end never reach an earlier output
            x = cat([x, zeros(B, n * c - T, self.d_model, dtype=x.dtype)], 1)  # (B, n c, C)
        parts = [a.reshape(B * n, c, *a.shape[2:]) for a in self._project(x)]  # chunks as batch
        q, k, v, S, logT, M, D = parts
        y = self._mix(*parts)  # (B n, c, H, d): within each chunk
        L = logT.cumsum(1)  # (B n, c, H): log of T products from the chunk start
        to_end = (L[:, -1:] - L).exp() * S  # (B n, c, H): token s's weight in the end state
        kv = einsum("bsh,bshd,bshe->bhde", to_end, k, v).reshape(B, n, H, d, d)
        carry = L[:, -1].exp().reshape(B, n, H, 1, 1)  # the whole chunk's transition
        C, starts = zeros(B, H, d, d, dtype=x.dtype), []
        for kv_j, carry_j in zip(kv.split(1, 1), carry.split(1, 1)):
            starts.append(C)  # C_{t0 - 1}, the state entering chunk j
            C = carry_j.squeeze(1) * C + kv_j.squeeze(1)
        C_in = stack(starts, 1).reshape(B * n, H, d, d)
        read = einsum("bthd,bhde->bthe", q, C_in) / math.sqrt(d)  # (B n, c, H, d)
        y = y + (M * (L - logT).exp()).unsqueeze(-1) * read  # M_t T_{t-1}..T_{t0} q_t C_in
        return self.out(y.reshape(B, n * c, self.d_model)[:, :T])

    def init_state(self, batch):
        return np.zeros((batch, self.H, self.d, self.d), self.qkv.weight.dtype)  # C

    def step(self, x_t, C):
        """x_t (B, d_model) -> (y_t (B, d_model), C_t (B, H, d, d))."""
        q, k, v, S, logT, M, D = self._project(x_t)  # (B, H, d), gates (B, H)
        scale = 1 / math.sqrt(self.d)
        read = einsum("bhd,bhde->bhe", q, C) * scale  # (B, H, d): q_t . C_{t-1}
        direct = (q * k).sum(-1, keepdim=True) * scale * v  # (B, H, d)
        y = M.unsqueeze(-1) * read + D.unsqueeze(-1) * direct
        C = logT.exp().unsqueeze(-1).unsqueeze(-1) * C \
            + (S.unsqueeze(-1) * k).unsqueeze(-1) * v.unsqueeze(-2)  # (B, H, d, d)
        return self.out(y.reshape(x_t.shape[0], self.d_model)), C

    def extra_repr(self):
        return f"d_model={self.d_model}, n_heads={self.H}"
