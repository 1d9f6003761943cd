"""Attention heads: splitting a projection into heads and joining them back.

The linear, sparse, routed and low-rank mixers work per head in the layout (B, H, T, D):
one (T, D) matrix per (batch, head), so the score and state products are plain ``@``.
These three functions are the only place that layout change is written.
"""

from __future__ import annotations


def split_heads(t, n_heads: int):
    """(B, T, H * D) -> (B, H, T, D)."""
    B, T, C = t.shape
    return t.reshape(B, T, n_heads, C // n_heads).transpose(1, 2)


def qkv_heads(qkv, n_heads: int):
    """A fused projection (B, T, 3 * H * D), laid out [q | k | v], -> q, k, v, each
    (B, H, T, D)."""
    return tuple(split_heads(t, n_heads) for t in qkv.split(qkv.shape[-1] // 3, -1))


def merge_heads(y):
    """(B, H, T, D) -> (B, T, H * D): the heads side by side again."""
    B, H, T, D = y.shape
    return y.transpose(1, 2).reshape(B, T, H * D)
