"""SEA: sparse attention on a mask estimated by linear attention.

Paper: "SEA: Sparse Linear Attention with Estimated Attention Mask" (Lee et al.). Exact
softmax attention is only needed where its weight is large. SEA estimates the attention
matrix cheaply with a kernel (linear-attention) estimator, keeps the top-k entries of
each query's estimated row as a sparse mask, and runs exact softmax attention on those
entries only. The estimate is compressed: here each query scores *blocks* of keys
against the block's mean key, so the estimate is (T x T / block) rather than T x T
(minitx's compression; the paper compresses to a fixed width and interpolates).

    estimate   E[i, r] = phi(q_i) . phi(mean_{j in r} k_j),  phi = elu + 1   (blocks r <= i)
    mask       the top_k blocks of each row of E, plus the query's own block (causal)
    output     softmax attention of q_i over the keys in its selected blocks

Glossary (code -> paper):
    block      keys per estimated column;  top_k  k, blocks kept per query
    estimate   the compressed attention estimate;  selected  the estimated mask
Cost: O(T (T / block) D) for the estimate (a small matrix product) and O(T k block D) for
the sparse attention; the selected entries are applied as a mask on dense scores here.
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ...nn import Linear, Module
from ..heads import merge_heads, qkv_heads
from ..registry import register
from .linear_attention import feature_map


def block_means(k, block):
    """(B, H, T, D) keys -> (B, H, N, D) means of blocks of ``block`` keys (last may be short)."""
    B, H, T, D = k.shape
    N = -(-T // block)
    padded = np.zeros((B, H, N * block, D), k.dtype)
    padded[:, :, :T] = k
    counts = np.minimum(block, T - block * np.arange(N))  # keys in each block
    return padded.reshape(B, H, N, block, D).sum(3) / counts[:, None]


def estimated_mask(fq, fk_blocks, T, block, top_k):
    """(B, H, T, T) bool: each query's own block and its top_k estimated earlier blocks."""
    N = fk_blocks.shape[2]
    est = np.einsum("bhtd,bhnd->bhtn", fq, fk_blocks)  # compressed estimate (B, H, T, N)
    own = np.arange(T) // block
    est = np.where(np.arange(N)[None, :] < own[:, None], est, -np.inf)  # earlier blocks only
    order = np.argsort(-est, axis=-1, kind="stable")[..., :top_k]
    chosen = np.zeros(est.shape, bool)
    np.put_along_axis(chosen, order, True, axis=-1)
    chosen &= np.isfinite(est)
    chosen[..., np.arange(T), own] = True  # the own block is always attended
    blocks_of_keys = np.repeat(chosen, block, axis=-1)[..., :T]  # (B, H, T, T)
    return blocks_of_keys & np.tril(np.ones((T, T), bool))


@register("sea")
class SEA(Module):
    """Top-k sparse softmax attention on an estimated mask. Cost O(T^2 D / block) for the
    estimate plus O(T k block D) for the attention (dense-masked here)."""

    def __init__(self, d_model, n_heads=1, causal=True, block=8, top_k=2, bias=True):
        super().__init__()
        if not causal:
            raise ValueError("sea: this is the causal (decoder) SEA; build it with causal=True")
        if d_model % n_heads or block < 1 or top_k < 0:
            raise ValueError(f"sea: need d_model divisible by n_heads, block >= 1, top_k >= 0; "
                             f"got {d_model}, {n_heads}, {block}, {top_k}")
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, d_model // n_heads
        self.causal, self.block, self.top_k = True, block, top_k
        self.qkv = Linear(d_model, 3 * d_model, bias=bias)
        self.out = Linear(d_model, d_model, bias=bias)

    def _heads(self, x):
        return qkv_heads(self.qkv(x), self.n_heads)

    def mask(self, q, k):
        """The estimated sparse mask (B, H, T, T) for queries and keys (B, H, T, D)."""
        fq = feature_map(q, "elu").data
        fk_blocks = feature_map_array(block_means(k.data, self.block))
        return estimated_mask(fq, fk_blocks, q.shape[2], self.block, self.top_k)

    def forward(self, x):
        q, k, v = self._heads(x)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=self.mask(q, k))
        return self.out(merge_heads(y))


def feature_map_array(x):
    """elu(x) + 1 on a plain array."""
    return np.where(x > 0, x + 1.0, np.exp(np.minimum(x, 0.0)))
