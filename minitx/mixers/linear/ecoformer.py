"""EcoFormer: attention through binary codes, so the products become additions.

Paper: "EcoFormer: Energy-Saving Attention with Linear Complexity" (Liu et al.). Queries
and keys are hashed to b-bit codes h(x) in {-1, +1}^b by kernelized hash functions
(RBF features of the input against learned anchors, then a sign). For such codes

    h(q) . h(k) = b - 2 Ham(h(q), h(k)),

so the number of agreeing bits, (b + h(q) . h(k)) / 2, is a non-negative similarity that
factorises: with phi(x) = [(1 + h(x)) / 2, (1 - h(x)) / 2] (2b entries, each 0 or 1),
phi(q) . phi(k) = b - Ham(h(q), h(k)). Attention then is linear attention with phi, and
because phi is binary, phi(K)^T V and phi(q) (...) need only additions of values.

Glossary (code -> paper):
    anchors     (H, m, D)   the kernel's anchor points a_j (learned)
    rbf(x)      (.., m)     exp(-|x - a_j|^2 / (2 sigma^2)), the kernelized features
    hash_proj   (H, m, b)   the hash's projection A; h(x) = sign(rbf(x) A)
    n_bits      b

Training the hash: the paper fits the hash functions to the similarity structure of the
attention map. Here gradients pass through sign() as the identity (a straight-through
estimator, minitx's choice), and ``similarity_loss`` scores how well the code
similarities rank like softmax's scores. Cost: O(T m D + T b D), linear in T.
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ...autograd.function import Function
from ...autograd.ops_shape import cat
from ...nn import Parameter
from ..heads import qkv_heads
from ..registry import register
from .linear_attention import LinearAttention


class SignSTE(Function):
    """sign(x) in {-1, +1} forward (0 maps to +1); the identity backward (straight-through)."""

    @staticmethod
    def forward(ctx, x):
        return np.where(x >= 0, 1.0, -1.0).astype(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        return (grad,)


def hamming(codes_q, codes_k):
    """Pairwise Hamming distances of +-1 codes (..., n, b), (..., s, b) -> (..., n, s)."""
    return (codes_q[..., :, None, :] != codes_k[..., None, :, :]).sum(-1)


@register("ecoformer")
class EcoFormer(LinearAttention):
    """Linear attention over binary hash codes: similarity = number of agreeing bits."""

    def __init__(self, d_model, n_heads=1, causal=True, n_bits=16, n_anchors=16, sigma=1.0,
                 form="chunked", chunk_size=64, seed=0, bias=True):
        super().__init__(d_model, n_heads, causal=causal, feature_map="elu", form=form,
                         chunk_size=chunk_size, bias=bias)
        if n_bits < 1 or n_anchors < 1 or sigma <= 0:
            raise ValueError(f"ecoformer: n_bits and n_anchors must be >= 1 and sigma > 0, got "
                             f"{n_bits}, {n_anchors}, {sigma}")
        self.feature_map, self.n_bits, self.sigma = "hash", n_bits, sigma
        rng = np.random.default_rng(seed)
        D = self.head_dim
        self.anchors = Parameter(rng.standard_normal((n_heads, 1, n_anchors, D)) * D ** -0.5)
        self.hash_proj = Parameter(rng.standard_normal((n_heads, n_anchors, n_bits)))

    def codes(self, x):
        """x (B, H, T, D) -> hash codes (B, H, T, b) in {-1, +1} (straight-through grads)."""
        x = x * self.head_dim ** -0.5
        gap = x.unsqueeze(3) - self.anchors  # (B, H, T, m, D)
        rbf = (-(gap * gap).sum(-1) * (0.5 / self.sigma ** 2)).exp()  # (B, H, T, m)
        projected = rbf @ self.hash_proj  # (B, H, T, b)
        centred = projected - projected.mean(-1, keepdim=True)  # balance the bits
        return SignSTE.apply(centred)

    def _features(self, x):
        q, k, v = qkv_heads(self.qkv(x), self.n_heads)
        binary = lambda h: cat([(h + 1.0) * 0.5, (1.0 - h) * 0.5], dim=-1)  # 0/1 entries
        return binary(self.codes(q)), binary(self.codes(k)), v

    def similarity_loss(self, x):
        """Mean squared gap between code similarity (1 - Ham / b, in [0, 1]) and the softmax
        attention weights rescaled to [0, 1] per row: a self-supervised target for the hash."""
        q, k, _ = qkv_heads(self.qkv(x), self.n_heads)
        target = F.softmax((q @ k.mT) * self.head_dim ** -0.5, dim=-1).data
        target = target / target.max(-1, keepdims=True)
        agree = (self.codes(q) @ self.codes(k).mT + self.n_bits) * (0.5 / self.n_bits)
        gap = agree - target
        return (gap * gap).mean()

    def extra_repr(self):
        return super().extra_repr() + f", n_bits={self.n_bits}"
