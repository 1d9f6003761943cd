"""MLP token mixers: MLP-Mixer's token-mixing MLP and TSMixer's time-mixing layer.

Papers: "MLP-Mixer: An all-MLP Architecture for Vision" (Tolstikhin et al.): tokens are
mixed by an MLP applied along the token axis, the same for every channel,
    y[:, c] = W_2 gelu(W_1 x[:, c] + b_1) + b_2        W_1 (h, n), W_2 (n, h)
"TSMixer: Lightweight MLP-Mixer Model for Multivariate Time Series Forecasting"
(Ekambaram et al.): the same idea for time series, on patches of the series, with a
gated ("simple gated attention") channel step; its time-mixing layer is one linear map
along time and an activation.

Both have weights sized by the sequence length, so sequences are limited to ``max_len``
(shorter ones use the top-left block). Causal forms (minitx's, for decoders): the
time-mixing matrices are masked lower-triangular, so y_t only reads x_{<= t}; for the
two-layer MLP the hidden axis is time as well (h = n), each layer masked.

Glossary:
    mix1, mix2   (n, n)  the token-mixing weights W_1, W_2 (masked when causal)
    gate         TSMixer's gating: x * sigmoid(x W_g) on the channels
Cost: O(T^2 C): the weights are dense in time (the point is that they are fixed, not
computed from the input).
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ...autograd.ops_elementwise import gelu
from ...autograd.tensor import Tensor
from ...nn import Linear, Module, Parameter
from ..registry import register


class _TimeMixing(Module):
    """Shared machinery: learned (n, n) maps along time, masked when causal."""

    def __init__(self, d_model, causal, max_len, n_layers, seed):
        super().__init__()
        if max_len < 1:
            raise ValueError(f"{self.mixer_name}: max_len must be >= 1, got {max_len}")
        rng = np.random.default_rng(seed)
        self.d_model, self.causal, self.max_len, self.n_layers = d_model, causal, max_len, n_layers
        for i in range(1, n_layers + 1):  # mix1, mix1_bias, mix2, ...
            setattr(self, f"mix{i}", Parameter(rng.standard_normal((max_len, max_len))
                                               / np.sqrt(max_len)))
            setattr(self, f"mix{i}_bias", Parameter(np.zeros((max_len, 1))))

    def _layer(self, i, x):
        """x (B, T, C) -> W_i[:T, :T] x + b_i along time (masked lower-triangular if causal)."""
        T = x.shape[1]
        if T > self.max_len:
            raise ValueError(f"{self.mixer_name}: sequence length {T} exceeds max_len "
                             f"{self.max_len}")
        W = getattr(self, f"mix{i + 1}")[:T, :T]
        if self.causal:
            W = W * Tensor(np.tril(np.ones((T, T), W.dtype)))
        return W @ x + getattr(self, f"mix{i + 1}_bias")[:T]

    def mixing_matrix(self, x):
        """The first time-mixing layer's (T, T) weights (masked when causal)."""
        T = x.shape[1]
        W = self.mix1.data[:T, :T]
        return np.tril(W) if self.causal else W


@register("mlp-mixer")
class MLPMixer(_TimeMixing):
    """MLP-Mixer token mixing: W_2 gelu(W_1 x) along time. Cost O(T^2 C)."""

    def __init__(self, d_model, n_heads=1, causal=True, max_len=256, seed=0):
        super().__init__(d_model, causal, max_len, 2, seed)

    def forward(self, x):
        return self._layer(1, gelu(self._layer(0, x)))


@register("tsmixer")
class TSMixer(_TimeMixing):
    """TSMixer's time mixing (one linear map along time + ReLU) followed by its gated
    channel step x * sigmoid(x W_g). Cost O(T^2 C + T C^2)."""

    def __init__(self, d_model, n_heads=1, causal=True, max_len=256, seed=0, bias=True):
        super().__init__(d_model, causal, max_len, 1, seed)
        self.gate = Linear(d_model, d_model, bias=bias)

    def forward(self, x):
        mixed = F.relu(self._layer(0, x))
        return mixed * F.sigmoid(self.gate(mixed))
