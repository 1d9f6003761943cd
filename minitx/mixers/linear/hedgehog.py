"""Hedgehog: linear attention with a learned feature map trained to mimic softmax.

Paper: "The Hedgehog & the Porcupine: Expressive Linear Attentions with Softmax Mimicry"
(Zhang, Bhatia, Kumbong & Ré). Fixed feature maps (elu + 1, ReLU, random features) give
attention weights that are too flat and not monotone in q . k. Hedgehog learns a small
map per head,

    phi(x) = [exp(W x + b), exp(-(W x + b))]        W (D, D) starting at the identity,

so that phi(q) . phi(k) is a sum of exponentials of learned projections, spiky like
exp(q . k). The map is first *distilled*: with the softmax attention weights of the same
queries and keys as the teacher, minimise the cross-entropy between each softmax row and
the corresponding row of linear-attention weights (``distillation_loss``).

Glossary (code -> paper):
    W, b        feature_weight (H, D, D), feature_bias (H, D): the learnable map per head
    phi         (B, H, T, 2D) features, the positive and the negative exponentials
    A_soft      softmax(q k^T / sqrt(D)) (causal), the teacher's weights
    A_lin       phi(q) phi(k)^T / row sums, the student's weights

Queries and keys are scaled by D^(-1/4) first, so that with W = I, b = 0 the pair
(exp(x), exp(-x)) starts as a crude softmax-kernel estimate. Each query row is divided by
its largest feature (a factor that cancels in attention). Cost: O(T D^2) features plus
the chosen linear-attention form; ``step`` O(D^2) per token.
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ...autograd.ops_shape import cat
from ...nn import Parameter
from ..heads import qkv_heads
from ..registry import register
from .linear_attention import LinearAttention


@register("hedgehog")
class Hedgehog(LinearAttention):
    """Linear attention with Hedgehog's learned exponential feature map."""

    eps = 1e-30  # features are exponentials, hence positive

    def __init__(self, d_model, n_heads=1, causal=True, form="chunked", chunk_size=64,
                 bias=True):
        super().__init__(d_model, n_heads, causal=causal, feature_map="elu", form=form,
                         chunk_size=chunk_size, bias=bias)
        self.feature_map = "hedgehog"
        D = self.head_dim
        self.feature_weight = Parameter(np.tile(np.eye(D, dtype=np.float32), (n_heads, 1, 1)))
        self.feature_bias = Parameter(np.zeros((n_heads, 1, D), np.float32))

    def phi(self, x, is_query):
        """x (B, H, T, D) -> (B, H, T, 2D): [exp(W x + b), exp(-(W x + b))] per head."""
        z = (x * self.head_dim ** -0.25) @ self.feature_weight.mT + self.feature_bias
        logits = cat([z, -z], dim=-1)
        if is_query:
            logits = logits - logits.data.max(axis=-1, keepdims=True)
        return logits.exp()

    def _heads(self, x):
        return qkv_heads(self.qkv(x), self.n_heads)

    def _features(self, x):
        q, k, v = self._heads(x)
        return self.phi(q, True), self.phi(k, False), v

    def attention_weights(self, x):
        """(teacher, student): softmax and Hedgehog attention weights (B, H, T, T), the
        student as a Tensor so the distillation loss can be differentiated."""
        q, k, _ = self._heads(x)
        scores = (q @ k.mT) * self.head_dim ** -0.5
        T = x.shape[1]
        if self.causal:
            scores = scores.masked_fill(~np.tril(np.ones((T, T), bool)), -np.inf)
        teacher = F.softmax(scores, dim=-1).data
        A = self.phi(q, True) @ self.phi(k, False).mT
        if self.causal:
            A = A.tril()
        return teacher, A / (A.sum(-1, keepdim=True) + self.eps)

    def distillation_loss(self, x):
        """Hedgehog's attention distillation: mean over rows of the cross-entropy
        -sum_j A_soft[i, j] log A_lin[i, j] (masked entries contribute nothing)."""
        teacher, student = self.attention_weights(x)
        log_student = (student + 1e-12).log()
        return -(log_student * teacher).sum(-1).mean()

    def extra_repr(self):
        return f"d_model={self.d_model}, n_heads={self.n_heads}, causal={self.causal}, " \
               f"form={self.form!r}, feature_map='hedgehog'"
