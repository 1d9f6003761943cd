"""DeltaNet: linear attention whose state is edited by the delta rule, trained chunk by chunk.

Paper: "Parallelizing Linear Transformers with the Delta Rule over Sequence Length"
(Yang, Wang, Zhang, Shen & Kim), sec. 2-3. Linear attention only ever *adds* k^T v to its
state, so old associations pile up. The delta rule first reads what the state predicts
for the key, then writes back the correction:

    S_t = S_{t-1} + beta_t k_t^T (v_t - k_t S_{t-1})      state (Dk, Dv), rows by key
    o_t = q_t S_t

one step of online gradient descent on ||k_t S - v_t||^2 / 2 with step beta_t.

Glossary (code -> paper; row-vector convention, so S is the paper's S^T):
    q, k, v      (B, H, T, D)   queries, keys (L2-normalised), values
    beta         (B, H, T)      writing strength in (0, 1), sigmoid(x W_beta)
    S            (B, H, D, D)   the fast-weight state
    C            chunk size
    T_c          (C, C)         (I + strictly_lower(diag(beta) K K^T))^{-1} diag(beta)
    W, U         (C, D)         the WY representation: W = T_c K, U = T_c V

Chunkwise form (sec. 3): inside a chunk starting from state S,
    pseudo-values  U_eff = U - W S      (the corrections each token writes)
    outputs        O = Q S + tril(Q K^T) U_eff
    next state     S' = S + K^T U_eff
so a chunk costs a few (C x C) and (C x D) matrix products plus one triangular inverse,
and only T / C steps remain sequential. Cost: O(T C D + T D^2); recurrent O(T D^2).
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ...autograd.function import Function
from ...autograd.ops_shape import cat, tril
from ...nn import Linear, Module, RMSNorm
from ..heads import merge_heads, qkv_heads
from ..registry import register
from ._scan_ops import delta_scan
from .linear_attention import _pad_time

FORMS = ("chunked", "recurrent", "loop")  # loop: recurrent_form_loop, the one to read


class UnitLowerInverse(Function):
    """X = L^{-1} for unit lower-triangular L (..., C, C). Backward: dL = -X^T dX X^T, kept
    on the strictly lower triangle (the only entries of L that vary)."""

    @staticmethod
    def forward(ctx, L):
        X = np.linalg.inv(L)
        ctx.save_for_backward(X)
        return X

    @staticmethod
    def backward(ctx, grad):
        (X,) = ctx.saved
        Xt = np.swapaxes(X, -1, -2)
        return (np.tril(-(Xt @ grad @ Xt), -1),)


def l2_normalize(x, eps=1e-6):
    return x / ((x * x).sum(-1, keepdim=True) + eps).sqrt()


def recurrent_form(q, k, v, beta):
    """The delta rule one token at a time, as one autograd node over the Numba delta scan
    (``minitx.kernels.delta_scan``, hand-written reverse-time backward); q, k, v (B, H, T, D),
    beta (B, H, T, 1) -> o (B, H, T, D). Equals ``recurrent_form_loop``. Cost O(T D^2)."""
    return delta_scan(q, k, v, beta)


def recurrent_form_loop(q, k, v, beta):
    """The delta rule one token at a time as a Python loop of autograd ops (the readable
    version of ``recurrent_form``); q, k, v (B, H, T, D), beta (B, H, T, 1)."""
    S, outs = None, []
    for q_t, k_t, v_t, b_t in zip(*(x.split(1, dim=2) for x in (q, k, v, beta))):
        correction = v_t if S is None else v_t - k_t @ S  # v_t - k_t S_{t-1}   (B, H, 1, Dv)
        write = k_t.mT @ (correction * b_t)  # beta k^T (v - k S)   (B, H, Dk, Dv)
        S = write if S is None else S + write
        outs.append(q_t @ S)
    return cat(outs, dim=2)


def wy_representation(k, v, beta):
    """Per chunk, k, v (B, H, N, C, D), beta (B, H, N, C, 1) -> W, U (B, H, N, C, D)."""
    C = k.shape[-2]
    strictly_lower = tril(beta * (k @ k.mT), -1)  # diag(beta) K K^T below the diagonal
    L = strictly_lower + np.eye(C, dtype=k.dtype)
    Tc = UnitLowerInverse.apply(L)  # (I + ...)^{-1}   (B, H, N, C, C)
    return Tc @ (beta * k), Tc @ (beta * v)  # T_c = (I + ...)^{-1} diag(beta)


def chunked_form(q, k, v, beta, chunk_size=64):
    """The chunkwise-parallel delta rule (WY representation), T / C sequential steps."""
    B, H, T, D = q.shape
    C = min(chunk_size, T)
    N = -(-T // C)
    pad = N * C - T
    if pad:  # padded tokens have beta = 0: they write nothing, and nothing reads them
        q, k, v, beta = (_pad_time(x, pad) for x in (q, k, v, beta))
    qc, kc, vc, bc = (x.reshape(B, H, N, C, x.shape[-1]) for x in (q, k, v, beta))
    W, U = wy_representation(kc, vc, bc)
    attn = tril(qc @ kc.mT)  # causal scores inside each chunk   (B, H, N, C, C)
    S, outs = None, []
    chunks = zip(*(x.split(1, dim=2) for x in (qc, kc, W, U, attn)))  # split once, not x[:, n]
    for q_n, k_n, w_n, u_n, a_n in chunks:  # only the state is carried from chunk to chunk
        q_n, k_n, w_n, u_n, a_n = (x.squeeze(2) for x in (q_n, k_n, w_n, u_n, a_n))
        u_eff = u_n if S is None else u_n - w_n @ S  # the corrections written  (B, H, C, Dv)
        o_n = a_n @ u_eff if S is None else q_n @ S + a_n @ u_eff
        S = k_n.mT @ u_eff if S is None else S + k_n.mT @ u_eff
        outs.append(o_n)
    y = cat(outs, dim=2)  # (B, H, N * C, Dv)
    return y[:, :, :T] if pad else y


@register("deltanet")
class DeltaNet(Module):
    """DeltaNet token mixer: SiLU + L2-normalised q and k, a per-head writing strength beta,
    the delta rule in chunkwise form, RMSNorm on the output. Cost O(T C D + T D^2);
    ``step`` O(D^2) per token."""

    def __init__(self, d_model, n_heads=1, causal=True, form="chunked", chunk_size=32,
                 bias=True):
        super().__init__()
        if not causal:
            raise ValueError("deltanet: the delta rule is a recurrence over time and needs "
                             "causal=True")
        if d_model % n_heads:
            raise ValueError(f"deltanet: d_model {d_model} is not divisible by n_heads {n_heads}")
        if form not in FORMS:
            raise ValueError(f"deltanet: unknown form {form!r} (accepted: {', '.join(FORMS)})")
        if chunk_size < 1:
            raise ValueError(f"deltanet: chunk_size must be >= 1, got {chunk_size}")
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, d_model // n_heads
        self.causal, self.form, self.chunk_size = causal, form, chunk_size
        self.qkv = Linear(d_model, 3 * d_model, bias=bias)
        self.beta_proj = Linear(d_model, n_heads, bias=True)  # W_beta
        self.norm = RMSNorm(d_model)
        self.out = Linear(d_model, d_model, bias=bias)

    def _inputs(self, x):
        """x (B, T, C) -> q, k, v (B, H, T, D) and beta (B, H, T, 1)."""
        q, k, v = qkv_heads(self.qkv(x), self.n_heads)
        q, k = l2_normalize(F.silu(q)), l2_normalize(F.silu(k))
        beta = F.sigmoid(self.beta_proj(x)).transpose(1, 2).unsqueeze(-1)  # (B, H, T, 1)
        return q, k, v, beta

    def forward(self, x, form=None):
        q, k, v, beta = self._inputs(x)
        form = form or self.form
        if form == "chunked":
            y = chunked_form(q, k, v, beta, self.chunk_size)
        else:
            y = (recurrent_form_loop if form == "loop" else recurrent_form)(q, k, v, beta)
        return self.out(self.norm(merge_heads(y)))

    def init_state(self, batch):
        return {"S": None}

    def step(self, x_t, state):
        """x_t (B, C) -> (y_t, state): one delta-rule write, then the read."""
        q, k, v, beta = self._inputs(x_t.unsqueeze(1))  # (B, H, 1, .)
        S = state["S"]
        correction = v if S is None else v - k @ S
        S = k.mT @ (correction * beta) if S is None else S + k.mT @ (correction * beta)
        y = (q @ S).reshape(x_t.shape)
        return self.out(self.norm(y)), {"S": S}
