"""Informer's ProbSparse attention: only the "active" queries attend; the lazy ones output
the mean of the values.

Paper: "Informer: Beyond Efficient Transformer for Long Sequence Time-Series Forecasting"
(Zhou et al.), sec. 3.1. Most queries give nearly uniform attention, whose output is
close to mean(V). Measure how far a query is from uniform by the sparsity score

    M(q_i, K) = max_j (q_i . k_j / sqrt(D)) - mean_j (q_i . k_j / sqrt(D)),

estimated on a random sample of U = factor * ceil(ln T) keys, keep the u = factor *
ceil(ln T) queries with the largest M, give them full attention, and give every other
query mean(V). The ranking compares all queries, future ones included, so this is an
encoder (bidirectional) mixer: ``causal_capable = False``.

Glossary (code -> paper):
    factor        c, the sampling factor;  u = n_top = c ceil(ln T) queries kept
    sparsity      M(q_i, K) on the sampled keys
Cost: O(T ln T D) for the scores that are computed (the sampled ones and the u rows);
the dense mean is O(T D). The key sample is drawn from ``seed`` and T, so the mixer is a
deterministic function of its input.
"""

from __future__ import annotations

import math

import numpy as np

from ... import functional as F
from ...autograd.tensor import Tensor
from ...nn import Linear, Module
from ..heads import merge_heads, qkv_heads
from ..registry import register


def sparsity_scores(q, k_sample):
    """M(q_i, K) = max - mean of the scaled scores against the sampled keys, (B, H, T)."""
    s = (q @ k_sample.mT).data / math.sqrt(q.shape[-1])  # (B, H, T, U)
    return s.max(-1) - s.mean(-1)


@register("probsparse")
class ProbSparseAttention(Module):
    """Top-u queries attend fully, the rest output mean(V). Cost O(T ln T D)."""

    causal_capable = False

    def __init__(self, d_model, n_heads=1, causal=False, factor=5, seed=0, bias=True):
        super().__init__()
        if causal:
            raise ValueError("probsparse: ranking queries compares every position, future ones "
                             "included; build it with causal=False")
        if d_model % n_heads or factor < 1:
            raise ValueError(f"probsparse: need d_model divisible by n_heads and factor >= 1, "
                             f"got {d_model}, {n_heads}, {factor}")
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, d_model // n_heads
        self.causal, self.factor, self.seed = False, factor, seed
        self.qkv = Linear(d_model, 3 * d_model, bias=bias)
        self.out = Linear(d_model, d_model, bias=bias)

    def n_top(self, T):
        return min(T, self.factor * math.ceil(math.log(max(T, 2))))

    def active_queries(self, q, k):
        """Indices (B, H, u) of the queries with the largest sparsity score."""
        T = k.shape[2]
        rng = np.random.default_rng([self.seed, T])
        sample = rng.choice(T, size=min(T, self.n_top(T)), replace=False)
        M = sparsity_scores(q, k[:, :, np.sort(sample)])
        return np.argsort(-M, axis=-1, kind="stable")[..., :self.n_top(T)]

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = qkv_heads(self.qkv(x), self.n_heads)
        top = self.active_queries(q, k)  # (B, H, u)
        place = np.zeros((B, self.n_heads, T, top.shape[-1]), v.dtype)  # one-hot rows (T, u)
        np.put_along_axis(place, top[:, :, None, :], 1.0, axis=2)
        place = Tensor(place)
        busy = F.scaled_dot_product_attention(place.mT @ q, k, v)  # the u active rows only
        lazy = v.mean(2, keepdim=True) * Tensor(1.0 - place.data.sum(-1, keepdims=True))
        y = lazy + place @ busy  # (B, H, T, D): mean(V) or the active query's attention
        return self.out(merge_heads(y))
