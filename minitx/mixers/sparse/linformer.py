"""Linformer: keys and values projected along time to a fixed length k.

Papers: "Linformer: Self-Attention with Linear Complexity" (Wang et al.): the attention
matrix is approximately low rank, so project the T keys and values to k << T rows with
learned (k, T) matrices E and F before attending:

    y = softmax(Q (E K)^T / sqrt(D)) (F V)         cost O(T k D)

"Greenformers: Improving Computation and Memory Efficiency in Transformer Models via
Low-Rank Approximation" (Cahyawijaya): factorise the weight matrices too (low-rank
encoder decomposition, a (C, r) then (r, 3C) projection in place of (C, 3C)); here the
``weight_rank`` option.

E and F mix all positions, future ones included: Linformer is bidirectional
(``causal_capable = False``) and needs T <= max_len.

Glossary (code -> paper):
    proj_k, proj_v   (k, max_len)   E and F, shared by the heads; sequences use the first T
                                    columns
    rank             k
    weight_rank      r of the low-rank q/k/v projection (None: full rank)
Cost: O(T k D) time, O(T k) memory for the weights.
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ...nn import Linear, Module, Parameter, Sequential
from ..heads import merge_heads, qkv_heads
from ..registry import register


@register("linformer")
class Linformer(Module):
    """Low-rank (projected) attention, bidirectional. Cost O(T k D)."""

    causal_capable = False

    def __init__(self, d_model, n_heads=1, causal=False, max_len=256, rank=32, weight_rank=None,
                 seed=0, bias=True):
        super().__init__()
        if causal:
            raise ValueError("linformer: the projections E, F mix every position, future ones "
                             "included; build it with causal=False")
        if d_model % n_heads:
            raise ValueError(f"linformer: d_model {d_model} is not divisible by n_heads {n_heads}")
        if not 1 <= rank <= max_len:
            raise ValueError(f"linformer: rank must be in 1..max_len={max_len}, got {rank}")
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, d_model // n_heads
        self.causal, self.max_len, self.rank = False, max_len, rank
        rng = np.random.default_rng(seed)
        self.proj_k = Parameter(rng.standard_normal((rank, max_len)) / np.sqrt(rank))
        self.proj_v = Parameter(rng.standard_normal((rank, max_len)) / np.sqrt(rank))
        if weight_rank is None:
            self.qkv = Linear(d_model, 3 * d_model, bias=bias)
        else:  # Greenformers' low-rank factorisation of the projection
            self.qkv = Sequential(Linear(d_model, weight_rank, bias=False),
                                  Linear(weight_rank, 3 * d_model, bias=bias))
        self.out = Linear(d_model, d_model, bias=bias)

    def _projected(self, x):
        """q (B, H, T, D) and the projected keys/values (B, H, k, D)."""
        B, T, C = x.shape
        if T > self.max_len:
            raise ValueError(f"linformer: sequence length {T} exceeds max_len {self.max_len} "
                             f"(accepted: T <= max_len; build with a larger max_len)")
        q, k, v = qkv_heads(self.qkv(x), self.n_heads)
        E, Fp = self.proj_k[:, :T], self.proj_v[:, :T]  # (k, T)
        return q, E @ k, Fp @ v

    def forward(self, x):
        q, k_low, v_low = self._projected(x)
        y = F.scaled_dot_product_attention(q, k_low, v_low)  # (B, H, T, D)
        return self.out(merge_heads(y))

    def mixing_matrix(self, x):
        """(B, H, T, T) = softmax(Q (E K)^T / sqrt(D)) F: rank at most k."""
        q, k_low, _ = self._projected(x)
        s = (q @ k_low.mT).data / np.sqrt(self.head_dim)
        p = np.exp(s - s.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        return p @ self.proj_v.data[:, :x.shape[1]]
