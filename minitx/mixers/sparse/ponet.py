"""PoNet: token mixing by pooling at three granularities, fused with each token.

Paper: "PoNet: Pooling Network for Efficient Token Mixing in Long Sequences" (Tan et al.).
Instead of attention, each token gathers context by pooling:
    global aggregation (GA)   the average of all tokens, refined by one attention step
                              in which that average is the query;
    segment max-pooling (SMP) the element-wise max over the token's segment;
    local max-pooling (LMP)   the element-wise max over a sliding window around it;
and fuses them with the token itself: o_i = ga (x) q_i + smp_i + lmp_i (multiplicative for
the global part, additive for the others).

Causal form (minitx's, for decoder use): every pool runs over the past only: GA is the
running mean of the tokens so far with its refinement attending to the prefix, SMP the
running max inside the current segment, LMP the max over the last ``window`` tokens.

Glossary (code -> paper):
    window     the LMP window;  segment  the SMP segment length
    g          (B, T, C)  global aggregation (one vector for all i when non-causal)
Cost: O(T^2 C) causal (the GA refinement here is a causal softmax over each prefix; a
cumulative form would make it O(T C)), O(T C) non-causal; plus O(T C (window + segment))
for the max pools.
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ...autograd.ops_reduce import amax, cumsum
from ...autograd.ops_shape import cat, stack
from ...autograd.tensor import Tensor
from ...nn import Linear, Module
from ..registry import register


def _shifted(x, s):
    """x (B, T, C) delayed by s steps, -inf where nothing came before (for max pools)."""
    if s == 0:
        return x
    B, T, C = x.shape
    pad = Tensor(np.full((B, min(s, T), C), -np.inf, x.dtype))
    return cat([pad, x[:, :T - s]], dim=1) if s < T else pad


def local_max(x, window, causal=True):
    """Max over the last ``window`` tokens (causal) or a centred window (non-causal)."""
    shifts = range(window) if causal else range(-(window // 2), window - window // 2)
    views = [_shifted(x, s) if s >= 0 else _shifted(x.flip(1), -s).flip(1) for s in shifts]
    return amax(stack(views, dim=2), 2)  # (B, T, C)


def segment_max(x, segment, causal=True):
    """Max over the token's segment of ``segment`` tokens (so far, when causal)."""
    B, T, C = x.shape
    pos = np.arange(T) % segment  # position inside the segment
    views = []
    for s in range(segment):
        shifted = _shifted(x, s)
        allowed = Tensor(np.where(pos >= s, 0.0, -np.inf)[None, :, None].astype(x.dtype))
        views.append(shifted + allowed)
    if causal:
        return amax(stack(views, dim=2), 2)
    N = -(-T // segment)
    padded = cat([x, Tensor(np.full((B, N * segment - T, C), -np.inf, x.dtype))], 1)
    seg = amax(padded.reshape(B, N, segment, C), 2, keepdim=True)  # (B, N, 1, C)
    return seg.expand(B, N, segment, C).reshape(B, N * segment, C)[:, :T]


@register("ponet")
class PoNet(Module):
    """Multi-granularity pooling mixer. Cost O(T^2 C) causal (the global part), O(T C (window
    + segment)) non-causal."""

    def __init__(self, d_model, n_heads=1, causal=True, window=3, segment=8, bias=True):
        super().__init__()
        if window < 1 or segment < 1:
            raise ValueError(f"ponet: window and segment must be >= 1, got {window}, {segment}")
        self.d_model, self.causal, self.window, self.segment = d_model, causal, window, segment
        self.proj = Linear(d_model, 5 * d_model, bias=bias)  # q, GA, GA keys, SMP, LMP inputs
        self.out = Linear(d_model, d_model, bias=bias)

    def global_aggregation(self, g_in, keys):
        """GA: the mean token (running mean when causal), refined by attending to the tokens."""
        B, T, C = g_in.shape
        if self.causal:
            count = Tensor(np.arange(1, T + 1, dtype=g_in.dtype)[:, None])
            mean = cumsum(g_in, 1) / count  # (B, T, C)
            return F.scaled_dot_product_attention(mean, keys, g_in, is_causal=True)
        mean = g_in.mean(1, keepdim=True)  # (B, 1, C)
        return F.scaled_dot_product_attention(mean, keys, g_in).expand(B, T, C)

    def forward(self, x):
        C = x.shape[-1]
        q, g_in, g_keys, s_in, l_in = self.proj(x).split(C, -1)
        ga = self.global_aggregation(g_in, g_keys)
        smp = segment_max(s_in, self.segment, self.causal)
        lmp = local_max(l_in, self.window, self.causal)
        return self.out(ga * q + smp + lmp)
