"""S^2-attention: attention inside groups, half of the heads on groups shifted by half a
group, plus attention-sink tokens.

Papers: "LongLoRA: Efficient Fine-tuning of Long-Context Large Language Models" (Chen et
al.) introduced shifted sparse attention: split the sequence into groups of G tokens and
attend only inside a group, but for half of the heads shift the groups by G / 2, so
neighbouring groups exchange information through those heads. "SinkLoRA: Enhanced
Efficiency and Chat Capabilities for Long-Context Large Language Models" (Zhang) keeps the
shifted groups and adds global "sink" tokens (the first tokens, visible to every query),
which softmax attention leans on (StreamingLLM's attention sinks).

Glossary:
    group_size   G;  heads 0 .. H/2 - 1 use groups [0, G), [G, 2G), ...
                 heads H/2 .. H - 1 use groups [0, G/2), [G/2, 3G/2), ...
    n_sink       the first n_sink positions, visible to every later query
    pattern(T)   (H, T, T) bool, per head

Cost: the pattern has O(T (G + n_sink)) entries; it is applied here as a mask on dense
scores, O(T^2 D). ``step`` decodes with a KV cache and one pattern row per head.
"""

from __future__ import annotations

import numpy as np

from ..registry import register
from .patterns import PatternAttention


def group_ids(T, group_size, shifted):
    """Group index of every position; shifted groups start half a group earlier."""
    offset = group_size // 2 if shifted else 0
    return (np.arange(T) + offset) // group_size


def s2_pattern(T, n_heads, group_size, n_sink=0, causal=True):
    """(H, T, T): same group (plain or shifted by head), or a sink key; causal if asked."""
    masks = []
    for h in range(n_heads):
        g = group_ids(T, group_size, shifted=h >= n_heads // 2 and n_heads > 1)
        seen = (g[:, None] == g[None, :]) | (np.arange(T)[None, :] < n_sink)
        if causal:
            seen &= np.tril(np.ones((T, T), bool))
        masks.append(seen)
    return np.stack(masks)


@register("s2-attention")
class ShiftedSparseAttention(PatternAttention):
    """Grouped attention, shifted for half the heads, with sink tokens.
    Cost O(T^2 D) masked here (pattern O(T (G + n_sink)))."""

    def __init__(self, d_model, n_heads=2, causal=True, group_size=8, n_sink=0, bias=True):
        super().__init__(d_model, n_heads, causal, bias)
        if group_size < 2 or n_sink < 0:
            raise ValueError(f"s2-attention: need group_size >= 2 and n_sink >= 0, got "
                             f"{group_size}, {n_sink}")
        self.group_size, self.n_sink = group_size, n_sink

    def pattern(self, T):
        return s2_pattern(T, self.n_heads, self.group_size, self.n_sink, self.causal)
