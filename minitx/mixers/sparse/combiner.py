"""Combiner (Fixed): full attention support at sparse cost, through block summaries.

Paper: "Combiner: Full Attention Transformer with Sparse Computation Cost" (Ren et al.).
Attention is an expectation, y_i = E_{p(j | i)}[v_j]. Combiner factorises p(j | i): keys in
the query's own block are attended directly; every other block r is reached indirectly,
p(j | i) = p(r | i) q(j | r), where q(j | r) is a distribution inside the block that does
not depend on i. Then block r contributes through one summary (key k_r, value
v_r = sum_j q(j | r) v_j), and each query attends to w direct keys plus T / w summaries:

    y_i = [ sum_{j in own block, j <= i} e^{s_ij} v_j + sum_{r < own block} e^{q_i . k_r} v_r ]
          / (the same sums without v)

Every earlier token keeps a non-zero weight (full support), unlike a sparse pattern that
drops it, at O(T (w + T / w)) cost, O(T^1.5) at w = sqrt T ("Combiner-Fixed").

Glossary (code -> paper):
    block         w, the span of direct attention (the fixed pattern's block)
    summary key   k_r = mean of the block's keys (minitx's choice of abstraction)
    summary_query u (H, D), learned: q(j | r) = softmax_{j in r}(u . k_j)
Cost: O(T (w + T / w) D); causal (a block's summary is read only by later blocks).
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ...autograd.ops_shape import cat
from ...nn import Linear, Module, Parameter
from ..registry import register
from .sliding_window import _pad


def block_summaries(k, v, u, w):
    """Keys/values (B, H, N * w, D) -> summary keys and values (B, H, N, D)."""
    B, H, Tp, D = k.shape
    kb, vb = k.reshape(B, H, Tp // w, w, D), v.reshape(B, H, Tp // w, w, D)
    inside = F.softmax((kb * u.reshape(1, H, 1, 1, D)).sum(-1, keepdim=True), dim=3)  # q(j|r)
    return kb.mean(3), (inside * vb).sum(3)


def _masks(N, w, T):
    """(N, w, w + N): own-block causal keys (real ones only), then summaries of earlier blocks."""
    own = np.tril(np.ones((w, w), bool))
    masks = []
    for n in range(N):
        real = (n * w + np.arange(w)) < T
        direct = own & real[None, :]
        earlier = np.broadcast_to(np.arange(N) < n, (w, N))
        masks.append(np.concatenate([direct, earlier], axis=1))
    return np.stack(masks)


@register("combiner")
class Combiner(Module):
    """Combiner-Fixed: direct attention in the block, indirect through block summaries.
    Cost O(T (w + T / w) D)."""

    def __init__(self, d_model, n_heads=1, causal=True, block=8, bias=True):
        super().__init__()
        if not causal:
            raise ValueError("combiner: this is the causal Combiner-Fixed; build it with "
                             "causal=True")
        if d_model % n_heads or block < 1:
            raise ValueError(f"combiner: need d_model divisible by n_heads and block >= 1, got "
                             f"{d_model}, {n_heads}, {block}")
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, d_model // n_heads
        self.causal, self.block = True, block
        self.qkv = Linear(d_model, 3 * d_model, bias=bias)
        self.summary_query = Parameter(np.zeros((n_heads, self.head_dim), np.float32))
        self.out = Linear(d_model, d_model, bias=bias)

    def forward(self, x):
        B, T, C = x.shape
        H, D = self.n_heads, self.head_dim
        w = min(self.block, T)
        N = -(-T // w)
        q, k, v = (_pad(t.reshape(B, T, H, D).transpose(1, 2), N * w - T)
                   for t in self.qkv(x).split(C, -1))  # (B, H, N w, D)
        k_sum, v_sum = block_summaries(k, v, self.summary_query, w)  # (B, H, N, D)
        qb, kb, vb = (t.reshape(B, H, N, w, D) for t in (q, k, v))
        every = lambda s: s.unsqueeze(2).expand(B, H, N, N, D)  # all summaries for each block
        keys, values = cat([kb, every(k_sum)], 3), cat([vb, every(v_sum)], 3)  # (B,H,N,w+N,D)
        y = F.scaled_dot_product_attention(qb, keys, values, attn_mask=_masks(N, w, T))
        return self.out(y.reshape(B, H, N * w, D)[:, :, :T].transpose(1, 2).reshape(B, T, C))
