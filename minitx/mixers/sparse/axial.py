"""Axial attention: a sequence laid out as a grid, attended one axis at a time.

Paper: "Axial Attention in Multidimensional Transformers" (Ho et al.). Write the T tokens
in raster order into a grid of rows of ``row_len`` tokens. Attention along a row, then
along a column, costs O(T (L + R)) for L = row_len and R = T / L rows instead of O(T^2),
and two such steps connect any two cells (the paper's O(T sqrt T) when L ~ sqrt T).

Causal form (raster order): the row step lets cell (r, c) see (r, c' <= c); the column
step, on the row step's output, lets it see (r' <= r, c); together (r, c) depends on
(r' <= r, c' <= c), never on a later token. The rest of the past ((r' < r, c' > c))
arrives through the next layer, as in the paper's masked decoders.

Glossary:
    row_len      L, the grid's width;  R = ceil(T / L) rows (the last one padded)
    row step     attention over axis c within each row, its own q, k, v projections
    column step  attention over axis r within each column, on the row step's output
Cost: O(T (L + R) D).
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ...nn import Linear, Module
from ..heads import qkv_heads
from ..registry import register
from .sliding_window import _pad


@register("axial")
class AxialAttention(Module):
    """Row attention then column attention over a raster grid. Cost O(T (L + T/L) D)."""

    def __init__(self, d_model, n_heads=1, causal=True, row_len=8, bias=True):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"axial: d_model {d_model} is not divisible by n_heads {n_heads}")
        if row_len < 1:
            raise ValueError(f"axial: row_len must be >= 1, got {row_len}")
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, d_model // n_heads
        self.causal, self.row_len = causal, row_len
        self.row_qkv = Linear(d_model, 3 * d_model, bias=bias)
        self.col_qkv = Linear(d_model, 3 * d_model, bias=bias)
        self.out = Linear(d_model, d_model, bias=bias)

    def _grid_heads(self, x, proj):
        """x (B, T, C) -> q, k, v as grids (B, H, R, L, D), padded at the end."""
        B, T, C = x.shape
        L = self.row_len
        R = -(-T // L)
        heads = qkv_heads(proj(x), self.n_heads)
        return [_pad(t, R * L - T).reshape(B, self.n_heads, R, L, self.head_dim) for t in heads]

    def _attend(self, q, k, v, mask):
        """Attention along the second-to-last axis of (..., n, D), masked if asked."""
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)

    def _from_grid(self, y, T):
        B, H, R, L, D = y.shape
        return y.reshape(B, H, R * L, D)[:, :, :T].transpose(1, 2).reshape(B, T, H * D)

    def forward(self, x):
        B, T, C = x.shape
        L = self.row_len
        R = -(-T // L)
        causal_row = np.tril(np.ones((L, L), bool)) if self.causal else None
        q, k, v = self._grid_heads(x, self.row_qkv)
        if not self.causal and R * L > T:  # padded cells of the last row must stay unseen
            real = (np.arange(R * L) < T).reshape(R, 1, L)
            causal_row = np.broadcast_to(real, (R, L, L))
        rows = self._from_grid(self._attend(q, k, v, causal_row), T)  # (B, T, C)
        q, k, v = (t.transpose(2, 3) for t in self._grid_heads(rows, self.col_qkv))  # (.., L, R, D)
        causal_col = np.tril(np.ones((R, R), bool)) if self.causal else None
        if not self.causal and R * L > T:
            real = (np.arange(R * L) < T).reshape(R, L).T[:, None, :]  # (L, 1, R)
            causal_col = np.broadcast_to(real, (L, R, R))
        cols = self._attend(q, k, v, causal_col).transpose(2, 3)  # back to (B, H, R, L, D)
        return self.out(self._from_grid(cols, T))
