"""Mixture-of-Memories (MoM): several linear-attention memories, each token routed to a few.

Paper: "MoM: Linear Sequence Modeling with Mixture-of-Memories" (Du et al.). One state of
size D x D is all a linear-attention layer can remember; writing every token into it
makes associations interfere. MoM keeps K separate memories and a router, as a
mixture-of-experts does for MLPs: token t is written only into its top-k memories, with
router weights g, and reads from the same memories,

    S_m,t = S_m,t-1 + g_m,t k_t^T v_t           (m routed for t; otherwise unchanged)
    o_t   = sum_m g_m,t q_t S_m,t  +  q_t S_shared,t

plus one shared memory that every token writes and reads. Then RMSNorm and the output
projection.

Parallel view used for training: memory m is linear attention with keys and queries
scaled by g_m, so all memories together are one unnormalised causal linear attention
over the block features q^ = [g_1 q, ..., g_K q, q] and k^ = [g_1 k, ..., g_K k, k]
(q^ . k^ = sum_m g_m,t g_m,s q . k + q . k), computed by the lightning (chunk) form.

Glossary (code -> paper):
    n_memories   K;  top_k  k (memories per token)
    gates        (B, T, H, K)  g: softmax of the router scores, kept on the top k and
                               renormalised, zero elsewhere
    S            (B, H, K + 1, D, Dv)  the memories, the last one shared
Cost: O(T C (K+1) D + T (K+1) D^2); ``step`` O(k D^2) per token.
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ...autograd.ops_shape import cat
from ...autograd.tensor import Tensor
from ...nn import Linear, Module, RMSNorm
from ..heads import merge_heads, qkv_heads
from ..registry import register
from .transnormer import lightning_form


def top_k_gates(scores, top_k):
    """Router scores (..., K) -> gates: softmax over the top_k largest, zero elsewhere."""
    K = scores.shape[-1]
    order = np.argsort(-scores.data, axis=-1, kind="stable")
    chosen = np.zeros(scores.shape, bool)
    np.put_along_axis(chosen, order[..., :top_k], True, axis=-1)
    masked = scores.masked_fill(~chosen, -np.inf) if top_k < K else scores
    return F.softmax(masked, dim=-1)


@register("mom")
class MixtureOfMemories(Module):
    """MoM token mixer. Cost O(T C (K+1) D + T (K+1) D^2) chunked; ``step`` O(k D^2)."""

    def __init__(self, d_model, n_heads=1, causal=True, n_memories=4, top_k=2, chunk_size=64,
                 bias=True):
        super().__init__()
        if not causal:
            raise ValueError("mom: memories are written in time order; build it with causal=True")
        if d_model % n_heads:
            raise ValueError(f"mom: d_model {d_model} is not divisible by n_heads {n_heads}")
        if not 1 <= top_k <= n_memories:
            raise ValueError(f"mom: top_k must be in 1..n_memories={n_memories}, got {top_k}")
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, d_model // n_heads
        self.causal, self.n_memories, self.top_k, self.chunk_size = (causal, n_memories, top_k,
                                                                     chunk_size)
        self.qkv = Linear(d_model, 3 * d_model, bias=bias)
        self.router = Linear(d_model, n_heads * n_memories, bias=False)
        self.norm = RMSNorm(d_model)
        self.out = Linear(d_model, d_model, bias=bias)

    def _inputs(self, x):
        """x (B, T, C) -> q, k, v (B, H, T, D) (q, k SiLU-activated) and gates (B, H, T, K)."""
        B, T, C = x.shape
        q, k, v = qkv_heads(self.qkv(x), self.n_heads)
        scores = self.router(x).reshape(B, T, self.n_heads, self.n_memories).transpose(1, 2)
        return F.silu(q), F.silu(k) * self.head_dim ** -0.5, v, top_k_gates(scores, self.top_k)

    def block_features(self, q, k, gates):
        """q^, k^ (B, H, T, (K+1) D): each memory's copy scaled by its gate, then the shared."""
        parts_q = [q * gates[..., m:m + 1] for m in range(self.n_memories)] + [q]
        parts_k = [k * gates[..., m:m + 1] for m in range(self.n_memories)] + [k]
        return cat(parts_q, dim=-1), cat(parts_k, dim=-1)

    def forward(self, x):
        q, k, v, gates = self._inputs(x)
        qh, kh = self.block_features(q, k, gates)
        y = lightning_form(qh, kh, v, np.ones(self.n_heads), self.chunk_size)
        return self.out(self.norm(merge_heads(y)))

    def init_state(self, batch):
        return {"S": None}

    def step(self, x_t, state):
        """Write k^T v into the routed memories (weighted) and the shared one, then read."""
        q, k, v, gates = self._inputs(x_t.unsqueeze(1))  # (B, H, 1, .)
        g = gates.transpose(2, 3).unsqueeze(-1)  # (B, H, K, 1, 1)
        weights = cat([g, Tensor(np.ones(g.shape[:2] + (1, 1, 1), g.dtype))], dim=2)
        write = weights * (k.mT @ v).unsqueeze(2)  # (B, H, K+1, D, Dv)
        S = write if state["S"] is None else state["S"] + write
        read = (weights * (q.unsqueeze(2) @ S)).sum(2)  # (B, H, 1, Dv)
        return self.out(self.norm(read.reshape(x_t.shape))), {"S": S}
