"""Sliding-window attention with global tokens (Longformer / BigBird's local + global parts).

Papers: "Longformer: The Long-Document Transformer" (Beltagy et al.) and "Big Bird:
Transformers for Longer Sequences" (Zaheer et al.): each token attends to a window of
its w nearest tokens, and a few *global* tokens (here the first n_global positions)
attend to and are attended by everyone, so information can cross the sequence in two
hops. Causal form: token i sees keys j with i - w < j <= i, and the global keys j <= i.

Glossary:
    w           window: a causal query sees itself and the w - 1 tokens before it
                (non-causal: |i - j| < w)
    n_global    g, the number of global tokens at the start of the sequence
    blocks      the sequence cut into blocks of w tokens; block n's queries need only
                blocks n - 1, n (and n + 1 when non-causal) plus the global keys

Cost: O(T (w + g) D) time and memory: nothing of size T x T is built. (Non-causal:
the g global queries attend to all T keys, O(g T D) more.)
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ...autograd.ops_shape import cat
from ...autograd.tensor import Tensor
from ...nn import Linear, Module
from ..heads import merge_heads, qkv_heads
from ..registry import register


def visible_mask(T, window, n_global, causal):
    """(T, T) bool, the definition: may query i attend to key j?"""
    i, j = np.arange(T)[:, None], np.arange(T)[None, :]
    near = (i - j < window) & (j <= i) if causal else np.abs(i - j) < window
    glob = j < n_global
    if not causal:
        glob = glob | (i < n_global)
    return near | (glob & (j <= i) if causal else glob)


def _pad(x, n):
    """Append n zero steps on axis 2 of (B, H, T, D)."""
    if not n:
        return x
    return cat([x, Tensor(np.zeros(x.shape[:2] + (n,) + x.shape[3:], x.dtype))], dim=2)


def _block_masks(N, w, T, n_global, causal):
    """(N, w, K) masks for block queries against [neighbour blocks, global keys]: the same
    visibility as ``visible_mask``, with a global key dropped where the band has it."""
    offsets = (-1, 0) if causal else (-1, 0, 1)
    masks = []
    for n in range(N):
        i = (n * w + np.arange(w))[:, None]  # query positions
        local = np.concatenate([(n + o) * w + np.arange(w) for o in offsets])[None, :]
        ok_local = (local >= 0) & (local < T) & visible_mask_pairs(i, local, w, causal)
        gk = np.arange(n_global)[None, :]
        in_band = (i - gk < w) if causal else (np.abs(i - gk) < w)
        ok_global = ~in_band & ((gk <= i) if causal else True)
        masks.append(np.concatenate([ok_local, np.broadcast_to(ok_global, (w, n_global))], 1))
    return np.stack(masks)


def visible_mask_pairs(i, j, window, causal):
    return ((i - j < window) & (j <= i)) if causal else (np.abs(i - j) < window)


def sliding_window_attention(q, k, v, window, n_global=0, causal=True):
    """q, k, v (B, H, T, D) -> (B, H, T, D): attention over the window and global keys."""
    B, H, T, D = q.shape
    w = min(window, T)
    N = -(-T // w)
    pad = N * w - T
    q, k, v = _pad(q, pad), _pad(k, pad), _pad(v, pad)
    kb, vb = (x.reshape(B, H, N, w, D) for x in (k, v))
    zeros = Tensor(np.zeros((B, H, 1, w, D), q.dtype))
    shifted = lambda x, s: cat([zeros, x[:, :, :-1]], 2) if s < 0 else cat([x[:, :, 1:], zeros], 2)
    parts_k = [shifted(kb, -1), kb] + ([shifted(kb, 1)] if not causal else [])
    parts_v = [shifted(vb, -1), vb] + ([shifted(vb, 1)] if not causal else [])
    if n_global:  # the same global keys for every block
        g = min(n_global, T)
        gk, gv = (x[:, :, :g].unsqueeze(2).expand(B, H, N, g, D) for x in (k, v))
        parts_k, parts_v = parts_k + [gk], parts_v + [gv]
    keys, values = cat(parts_k, 3), cat(parts_v, 3)  # (B, H, N, K, D)
    mask = _block_masks(N, w, T, min(n_global, T), causal)  # (N, w, K)
    y = F.scaled_dot_product_attention(q.reshape(B, H, N, w, D), keys, values, attn_mask=mask)
    y = y.reshape(B, H, N * w, D)[:, :, :T]
    if n_global and not causal:  # global queries read the whole sequence
        g = min(n_global, T)
        full = F.scaled_dot_product_attention(q[:, :, :g], k[:, :, :T], v[:, :, :T])
        y = cat([full, y[:, :, g:]], dim=2)
    return y


@register("sliding-window")
class SlidingWindowAttention(Module):
    """Local window + global tokens. Cost O(T (w + g) D); ``step`` O((w + g) D) per token."""

    def __init__(self, d_model, n_heads=1, causal=True, window=16, n_global=0, bias=True):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"sliding-window: d_model {d_model} is not divisible by n_heads "
                             f"{n_heads}")
        if window < 1 or n_global < 0:
            raise ValueError(f"sliding-window: window must be >= 1 and n_global >= 0, got "
                             f"{window}, {n_global}")
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, d_model // n_heads
        self.causal, self.window, self.n_global = causal, window, n_global
        self.qkv = Linear(d_model, 3 * d_model, bias=bias)
        self.out = Linear(d_model, d_model, bias=bias)

    def _heads(self, x):
        return qkv_heads(self.qkv(x), self.n_heads)

    def forward(self, x):
        y = sliding_window_attention(*self._heads(x), self.window, self.n_global, self.causal)
        return self.out(merge_heads(y))

    def mixing_matrix(self, x):
        q, k, _ = self._heads(x)
        T = x.shape[1]
        s = np.where(visible_mask(T, self.window, self.n_global, self.causal),
                     (q @ k.mT).data / np.sqrt(self.head_dim), -np.inf)
        e = np.exp(s - s.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    def init_state(self, batch):
        if not self.causal:
            raise ValueError("sliding-window: step() needs causal=True")
        return {"global": [], "recent": [], "t": 0}

    def step(self, x_t, state):
        """Keep the global keys/values and the last w - 1; attend; drop what leaves."""
        q, k, v = self._heads(x_t.unsqueeze(1))  # (B, H, 1, D)
        recent = (state["recent"] + [(k, v)])[-self.window:]
        glob = state["global"] + ([(k, v)] if state["t"] < self.n_global else [])
        # a global token still inside the window is attended once, through the window
        first_recent = state["t"] + 1 - len(recent)
        seen = [kv for pos, kv in enumerate(glob) if pos < first_recent] + recent
        keys, values = cat([kv[0] for kv in seen], 2), cat([kv[1] for kv in seen], 2)
        y = F.scaled_dot_product_attention(q, keys, values)
        new_state = {"global": glob, "recent": recent, "t": state["t"] + 1}
        return self.out(y.reshape(x_t.shape)), new_state
