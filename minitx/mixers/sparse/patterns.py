"""Fixed sparse attention patterns (Sparse Transformer) and randomly sub-sampled attention.

Papers: "Generating Long Sequences with Sparse Transformers" (Child et al.): the
*strided* pattern (a query sees the last l tokens and every l-th token before them) and
the *fixed* pattern (a query sees its own block of l tokens and the last c "summary"
tokens of every earlier block); either lets information reach any earlier position in
two layers while each row holds O(sqrt T) entries when l ~ sqrt T.
"The Information Pathways Hypothesis: Transformers are Dynamic Self-Ensembles" (Hossain
et al.): during training, attend to a random subset of the keys (each key kept with
probability keep, always the query's own), a different one per sample; at evaluation
use all keys. The network trains as an ensemble of sparse sub-networks and costs less.

Glossary:
    stride l       block length / stride;  summary c  summary tokens per block (fixed)
    keep           probability a key survives the sub-sampling (info-pathways)
    pattern(T)     (T, T) bool, True where query i may attend key j

Cost here: the pattern is applied as a mask on dense scores, O(T^2 D) compute; the
pattern itself has O(T sqrt T) entries (strided/fixed with l ~ sqrt T), which a
block-sparse kernel would exploit. ``step`` decodes with a KV cache, one pattern row.
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ...autograd.ops_shape import cat
from ...nn import Linear, Module
from ..heads import merge_heads, qkv_heads
from ..registry import register


def strided_pattern(T, stride, causal=True):
    i, j = np.arange(T)[:, None], np.arange(T)[None, :]
    seen = ((i - j) < stride) | ((i - j) % stride == 0)
    return seen & (j <= i) if causal else (np.abs(i - j) < stride) | ((i - j) % stride == 0)


def fixed_pattern(T, stride, summary=1, causal=True):
    i, j = np.arange(T)[:, None], np.arange(T)[None, :]
    seen = (i // stride == j // stride) | (j % stride >= stride - summary)
    return seen & (j <= i) if causal else seen


class PatternAttention(Module):
    """Softmax attention restricted to ``self.pattern(T)``."""

    def __init__(self, d_model, n_heads, causal, bias=True):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"{self.mixer_name}: d_model {d_model} is not divisible by "
                             f"n_heads {n_heads}")
        self.d_model, self.n_heads, self.head_dim, self.causal = (d_model, n_heads,
                                                                 d_model // n_heads, causal)
        self.qkv = Linear(d_model, 3 * d_model, bias=bias)
        self.out = Linear(d_model, d_model, bias=bias)

    def _heads(self, x):
        return qkv_heads(self.qkv(x), self.n_heads)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self._heads(x)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=self.pattern(T))
        return self.out(merge_heads(y))

    def mixing_matrix(self, x):
        q, k, _ = self._heads(x)
        s = np.where(self.pattern(x.shape[1]), (q @ k.mT).data / np.sqrt(self.head_dim),
                     -np.inf)
        e = np.exp(s - s.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    def init_state(self, batch):
        if not self.causal:
            raise ValueError(f"{self.mixer_name}: step() needs causal=True")
        return {"k": None, "v": None}

    def step(self, x_t, state):
        """Attend from the new token to the cached keys its pattern row allows."""
        q, k, v = self._heads(x_t.unsqueeze(1))  # (B, H, 1, D)
        if state["k"] is not None:
            k, v = cat([state["k"], k], 2), cat([state["v"], v], 2)
        t = k.shape[2]
        row = self.pattern(t)[..., t - 1:t, :]  # (1, t), or (H, 1, t) for per-head patterns
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=row)
        return self.out(y.reshape(x_t.shape)), {"k": k, "v": v}


@register("strided")
class StridedAttention(PatternAttention):
    """Sparse Transformer's strided pattern. Cost: O(T^2 D) masked here (pattern O(T sqrt T))."""

    def __init__(self, d_model, n_heads=1, causal=True, stride=8, bias=True):
        super().__init__(d_model, n_heads, causal, bias)
        if stride < 1:
            raise ValueError(f"strided: stride must be >= 1, got {stride}")
        self.stride = stride

    def pattern(self, T):
        return strided_pattern(T, self.stride, self.causal)


@register("fixed")
class FixedAttention(PatternAttention):
    """Sparse Transformer's fixed pattern. Cost: O(T^2 D) masked here (pattern O(T sqrt T))."""

    def __init__(self, d_model, n_heads=1, causal=True, stride=8, summary=1, bias=True):
        super().__init__(d_model, n_heads, causal, bias)
        if stride < 1 or not 1 <= summary <= stride:
            raise ValueError(f"fixed: need stride >= 1 and 1 <= summary <= stride, got "
                             f"{stride}, {summary}")
        self.stride, self.summary = stride, summary

    def pattern(self, T):
        return fixed_pattern(T, self.stride, self.summary, self.causal)


@register("info-pathways")
class SubsampledAttention(PatternAttention):
    """Stochastically sub-sampled attention (Information Pathways): in training, every
    sample attends to a random subset of keys; in evaluation, to all of them.
    Cost O(T^2 D) (the saving in the paper comes from gathering the kept keys)."""

    def __init__(self, d_model, n_heads=1, causal=True, keep=0.5, seed=0, bias=True):
        super().__init__(d_model, n_heads, causal, bias)
        if not 0 < keep <= 1:
            raise ValueError(f"info-pathways: keep must be in (0, 1], got {keep}")
        self.keep, self.rng = keep, np.random.default_rng(seed)

    def pattern(self, T):
        full = np.tril(np.ones((T, T), bool)) if self.causal else np.ones((T, T), bool)
        return full

    def sampled_pattern(self, B, T):
        """(B, 1, T, T): each sample keeps each key with probability keep (its own always)."""
        kept = self.rng.random((B, 1, 1, T)) < self.keep
        return (kept | np.eye(T, dtype=bool)) & self.pattern(T)

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        B, T, C = x.shape
        q, k, v = self._heads(x)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=self.sampled_pattern(B, T))
        return self.out(merge_heads(y))
