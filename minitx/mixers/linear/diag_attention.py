"""TransNormer's DiagAttention: softmax attention confined to blocks on the diagonal.

Paper: "The Devil in Linear Transformer" (Qin et al.). Linear attention spreads its
weight over the whole sequence ("attention dilution"); TransNormer's early layers use
DiagAttention instead, where a token attends only to tokens of its own block of
``block_size`` (and, when causal, only to earlier ones), so local structure is kept.
Later layers use NormAttention (``norm-attention``) for the global picture.

Glossary (code -> paper):
    block_size   w, the width of the diagonal blocks
    mask         visible(t, s) = (t // w == s // w) and (s <= t if causal)

Cost: O(T w D): each block is a small dense attention; blocks are batched as one
reshape, so nothing of size T x T is built.
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ...autograd.ops_shape import cat
from ...autograd.tensor import Tensor
from ...nn import Linear, Module
from ..heads import merge_heads, qkv_heads
from ..registry import register
from .linear_attention import _pad_time


@register("diag-attention")
class DiagAttention(Module):
    """Block-diagonal softmax attention. Cost O(T w D); ``step`` O(w D) per token (the
    state is the keys and values of the current block only)."""

    def __init__(self, d_model, n_heads=1, causal=True, block_size=16, bias=True):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"diag-attention: d_model {d_model} is not divisible by n_heads "
                             f"{n_heads}")
        if block_size < 1:
            raise ValueError(f"diag-attention: block_size must be >= 1, got {block_size}")
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, d_model // n_heads
        self.causal, self.block_size = causal, block_size
        self.qkv = Linear(d_model, 3 * d_model, bias=bias)
        self.out = Linear(d_model, d_model, bias=bias)

    def _heads(self, x):
        return qkv_heads(self.qkv(x), self.n_heads)  # each (B, H, T, D)

    def forward(self, x):
        B, T, C = x.shape
        w = min(self.block_size, T)
        N = -(-T // w)
        pad = N * w - T
        q, k, v = self._heads(x)
        if pad:
            q, k, v = (_pad_time(t, pad) for t in (q, k, v))
        qb, kb, vb = (t.reshape(B, self.n_heads, N, w, self.head_dim) for t in (q, k, v))
        mask = None if self.causal or not pad else Tensor(self._pad_mask(N, w, T))
        y = F.scaled_dot_product_attention(qb, kb, vb, attn_mask=mask,
                                           is_causal=self.causal)  # (B, H, N, w, D)
        y = y.reshape(B, self.n_heads, N * w, self.head_dim)[:, :, :T]
        return self.out(merge_heads(y))

    @staticmethod
    def _pad_mask(N, w, T):
        """(N, w, w) bool: padded keys at the end of the last block are hidden."""
        real = (np.arange(N * w) < T).reshape(N, 1, w)
        return np.broadcast_to(real, (N, w, w)).copy()

    def mixing_matrix(self, x):
        """(B, H, T, T) softmax weights: zero outside the diagonal blocks."""
        q, k, _ = self._heads(x)
        T = x.shape[1]
        block = np.arange(T) // self.block_size
        visible = block[:, None] == block[None, :]
        if self.causal:
            visible &= np.tril(np.ones((T, T), bool))
        s = np.where(visible, (q @ k.mT).data / np.sqrt(self.head_dim), -np.inf)
        e = np.exp(s - s.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    def init_state(self, batch):
        if not self.causal:
            raise ValueError("diag-attention: step() needs causal=True")
        return {"k": [], "v": [], "t": 0}

    def step(self, x_t, state):
        """x_t (B, C): attend to this block's earlier tokens; a new block starts empty."""
        q, k, v = self._heads(x_t.unsqueeze(1))  # (B, H, 1, D)
        keys, values = ([], []) if state["t"] % self.block_size == 0 else (state["k"],
                                                                          state["v"])
        keys, values = keys + [k], values + [v]
        y = F.scaled_dot_product_attention(q, cat(keys, 2), cat(values, 2))  # (B, H, 1, D)
        return self.out(y.reshape(x_t.shape)), {"k": keys, "v": values, "t": state["t"] + 1}
