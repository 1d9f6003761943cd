"""Performer: softmax attention approximated with positive random features (FAVOR+).

Paper: "Rethinking Attention with Performers" (Choromanski et al.), Lemma 1 and sec. 2.4.
Glossary (code -> paper):

    D             head dim; queries and keys are scaled by D^(-1/4) first, so that
                  exp(q' . k') = exp(q . k / sqrt(D)), the softmax kernel SM(q, k)
    omega         (m, D)   random features w_1 .. w_m ~ N(0, I_D), drawn in orthogonal blocks
                           (ORF: rows of a block orthogonal, norms resampled from chi(D))
    phi(x)        (m,)     exp(omega x - |x|^2 / 2) / sqrt(m): the positive random features
                           with E[phi(q) . phi(k)] = exp(q . k)  (Lemma 1, h(x) = exp(-|x|^2/2))
    m             n_features

Then attention is linear attention with phi as its feature map: the same parallel,
recurrent and chunked forms (``linear_attention``). As m grows, phi(q) . phi(k) tends to
exp(q . k / sqrt(D)) and the output to softmax attention's; ``softmax_kernel_error``
measures how fast. Cost: O(T m D) for the features plus the linear-attention form.

Stabiliser: each query's features are divided by their largest, a factor that cancels
between the numerator and the normaliser. Keys are left as they are: their exponent
w . k' - |k'|^2 / 2 never exceeds |w|^2 / 2, so they cannot overflow, and a shared
scale would have to look at future keys.
"""

from __future__ import annotations

import numpy as np

from ...autograd.tensor import Tensor
from ..heads import qkv_heads
from ..registry import register
from .linear_attention import LinearAttention


def orthogonal_gaussian(n_features: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """(m, D) rows distributed like N(0, I_D) each, orthogonal within blocks of D rows."""
    blocks = []
    for _ in range(-(-n_features // dim)):
        Q, R = np.linalg.qr(rng.standard_normal((dim, dim)))
        Q = Q * np.sign(np.diag(R))  # sign fix: makes Q uniform (Haar), so no direction is favoured
        blocks.append(Q.T)  # D orthonormal rows
    rows = np.concatenate(blocks)[:n_features]
    norms = np.linalg.norm(rng.standard_normal((n_features, dim)), axis=1)  # chi(D) lengths
    return rows * norms[:, None]


def positive_features(x, omega, is_query: bool):
    """phi(x) for x (..., T, D) Tensor, omega (m, D) array -> (..., T, m); a query row is
    divided by its largest feature (cancels in attention), keys are exact."""
    D = x.shape[-1]
    x = x * D ** -0.25  # q' = q / D^(1/4): exp(q' . k') = exp(q . k / sqrt(D))
    proj = x @ Tensor(omega.T.astype(x.dtype))  # omega x   (..., T, m)
    sq = (x * x).sum(-1, keepdim=True) * 0.5  # |x|^2 / 2   (..., T, 1)
    logits = proj - sq
    if is_query:
        logits = logits - logits.data.max(axis=-1, keepdims=True)
    return logits.exp() * omega.shape[0] ** -0.5


def softmax_kernel_error(q, k, n_features: int, rng: np.random.Generator) -> float:
    """Mean relative error of phi(q) . phi(k) (unstabilised) against exp(q . k / sqrt(D)),
    over all pairs of rows of q (n, D) and k (s, D): the FAVOR+ estimate vs the exact kernel."""
    D = q.shape[-1]
    omega = orthogonal_gaussian(n_features, D, rng)
    qs, ks = q * D ** -0.25, k * D ** -0.25

    def phi(x):
        return np.exp(x @ omega.T - 0.5 * (x * x).sum(-1, keepdims=True)) / np.sqrt(n_features)

    estimate, exact = phi(qs) @ phi(ks).T, np.exp(q @ k.T / np.sqrt(D))
    return float(np.mean(np.abs(estimate - exact) / exact))


@register("performer")
class Performer(LinearAttention):
    """Performer attention (FAVOR+): linear attention whose features estimate the softmax
    kernel. Cost: O(T m D) features + the chosen linear form; ``step`` in O(m D) per token."""

    eps = 1e-30  # the features are positive: only an all-underflow row needs a guard

    def __init__(self, d_model, n_heads=1, causal=True, n_features=64, form="chunked",
                 chunk_size=64, seed=0, bias=True):
        super().__init__(d_model, n_heads, causal=causal, feature_map="elu", form=form,
                         chunk_size=chunk_size, bias=bias)
        if n_features < 1:
            raise ValueError(f"performer: n_features must be >= 1, got {n_features}")
        self.feature_map = "favor+"
        self.n_features = n_features
        self.omega = orthogonal_gaussian(n_features, self.head_dim, np.random.default_rng(seed))

    def _features(self, x):
        q, k, v = qkv_heads(self.qkv(x), self.n_heads)  # (B, H, T, D)
        return positive_features(q, self.omega, True), positive_features(k, self.omega, False), v

    def extra_repr(self):
        return super().extra_repr() + f", n_features={self.n_features}"
