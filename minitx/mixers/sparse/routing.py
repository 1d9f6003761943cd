"""Routing Transformer: attention inside clusters found by online k-means.

Paper: "Efficient Content-Based Sparse Attention with Routing Transformers" (Roy et al.).
Queries and keys are normalised and assigned to the nearest of c centroids; a query
attends only to the keys in its own cluster (and, here, always to itself, so no row is
empty). During training the centroids follow the vectors assigned to them by an
exponential moving average (online k-means), so the routing adapts to the content:
tokens that would attend to each other strongly end up in the same cluster.

Glossary (code -> paper):
    centroids   (H, c, D)   mu, unit vectors, updated mu <- decay mu + (1 - decay) mean
                            of the normalised queries and keys assigned to it, renormalised
    cluster     argmax_c (x / |x|) . mu_c for each query and key
    n_clusters  c (the paper uses about sqrt(T))
Cost: with clusters of balanced size T / c, O(T^2 D / c) (O(T^1.5 D) at c = sqrt T); the
mask is applied to dense scores here, O(T^2 D), and the bench shows it. ``step``
decodes with a KV cache and the cached keys' clusters.
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ...autograd.ops_shape import cat
from ...nn import Linear, Module
from ..heads import merge_heads, qkv_heads
from ..registry import register


def unit(x, axis=-1):
    return x / (np.linalg.norm(x, axis=axis, keepdims=True) + 1e-9)


def assign(x, centroids):
    """Nearest centroid (by cosine) of every row of x (B, H, T, D) -> (B, H, T) ints."""
    return np.einsum("bhtd,hcd->bhtc", unit(x), centroids).argmax(-1)


def kmeans_update(centroids, vectors, clusters, decay):
    """One online k-means step: each centroid moves towards the mean of its vectors."""
    H, c, _ = centroids.shape
    new = centroids.copy()
    for h in range(H):
        for j in range(c):
            members = vectors[:, h][clusters[:, h] == j]  # (n, D)
            if len(members):
                new[h, j] = decay * centroids[h, j] + (1 - decay) * members.mean(0)
    return unit(new)


@register("routing")
class RoutingAttention(Module):
    """Cluster-restricted attention with online k-means routing. Cost O(T^2 D / c) with
    balanced clusters (dense-masked here); ``step`` O(t D)."""

    def __init__(self, d_model, n_heads=1, causal=True, n_clusters=4, decay=0.99, seed=0,
                 bias=True):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"routing: d_model {d_model} is not divisible by n_heads {n_heads}")
        if n_clusters < 1 or not 0 <= decay < 1:
            raise ValueError(f"routing: need n_clusters >= 1 and 0 <= decay < 1, got "
                             f"{n_clusters}, {decay}")
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, d_model // n_heads
        self.causal, self.decay = causal, decay
        self.qkv = Linear(d_model, 3 * d_model, bias=bias)
        self.out = Linear(d_model, d_model, bias=bias)
        rng = np.random.default_rng(seed)
        self.register_buffer("centroids", unit(rng.standard_normal((n_heads, n_clusters,
                                                                    self.head_dim))))

    def _heads(self, x):
        return qkv_heads(self.qkv(x), self.n_heads)

    def routing_mask(self, q, k):
        """(B, H, T, S) bool: same cluster (or the diagonal), causal if asked."""
        same = assign(q.data, self.centroids)[..., :, None] == \
            assign(k.data, self.centroids)[..., None, :]
        T, S = q.shape[2], k.shape[2]
        i, j = np.arange(T)[:, None] + S - T, np.arange(S)[None, :]
        mask = same | (i == j)
        return mask & (j <= i) if self.causal else mask

    def forward(self, x):
        q, k, v = self._heads(x)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=self.routing_mask(q, k))
        if self.training:  # online k-means on the normalised queries and keys
            both = np.concatenate([unit(q.data), unit(k.data)], axis=2)  # (B, H, 2T, D)
            clusters = assign(both, self.centroids)
            moved = kmeans_update(self.centroids, both.transpose(0, 2, 1, 3)
                                  .reshape(-1, self.n_heads, self.head_dim),
                                  clusters.transpose(0, 2, 1).reshape(-1, self.n_heads), self.decay)
            self.register_buffer("centroids", moved)  # stays in state_dict
        return self.out(merge_heads(y))

    def init_state(self, batch):
        if not self.causal:
            raise ValueError("routing: step() needs causal=True")
        return {"k": None, "v": None}

    def step(self, x_t, state):
        q, k, v = self._heads(x_t.unsqueeze(1))
        if state["k"] is not None:
            k, v = cat([state["k"], k], 2), cat([state["v"], v], 2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=self.routing_mask(q, k))
        return self.out(y.reshape(x_t.shape)), {"k": k, "v": v}
