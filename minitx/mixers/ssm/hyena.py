"""Hyena: gates and implicit long convolutions in place of attention.

Papers: "Hyena Hierarchy: Towards Larger Convolutional Language Models" (Poli et al.,
2023); used unchanged by "HyenaDNA: Long-Range Genomic Sequence Modeling at Single
Nucleotide Resolution" (Nguyen et al., 2023).

The order-N Hyena operator: project x to N + 1 streams, smooth each with a short causal
depthwise convolution, call them v, x_1, ..., x_N, and alternate long convolutions with
elementwise gates,

    z_0 = v,    z_i = x_i * (h_i conv z_{i-1} + beta_i z_{i-1}),    y = z_N W_O.

The long filters h_i (one per channel, as long as the sequence) are *implicit*: a small
MLP with sine activations maps positional features of t (t / l_max and sin / cos of
2 pi f t / l_max) to a value per channel, and a decaying window multiplies it:

    h_i[c, t] = FFN(z(t))[i, c] * (exp(-alpha_c t / l_max) + shift)

with decay rates alpha_c spread across channels (fast to slow). The number of filter
parameters does not grow with the sequence length.

Cost: O(N B d T log T) for the FFT convolutions plus O(T (F + h^2 + h N d)) for the
filters (F features, h MLP width). There is no O(1) recurrent form: the filters are as
long as the sequence. ``step`` keeps the whole prefix and reruns the operator on it
(O(t log t) per token), which gives the same outputs as ``forward``.

Glossary (code -> paper):
    order (N) the depth of the recurrence;  proj  the N+1 projections;  short  the short
    depthwise convolutions;  filter_mlp  FFN;  window  the exponential modulation;
    beta (N, d) the bias (skip) of each long convolution;  out  W_O.
"""

from __future__ import annotations

import math

import numpy as np

from ...autograd.factories import tensor
from ...autograd.ops_shape import cat
from ...nn import Linear, Module, Parameter
from ...nn.conv import CausalConv1d
from ..registry import register
from ._conv import causal_conv

__all__ = ["Hyena", "positional_features", "decay_window"]


def positional_features(T, l_max, n_freq):
    """(T, 1 + 2 n_freq): t / l_max, cos and sin of 2 pi f t / l_max, f = 0 .. n_freq - 1."""
    t = np.arange(T)[:, None] / l_max  # (T, 1)
    f = np.arange(n_freq)[None, :]
    return np.concatenate([t, np.cos(2 * np.pi * f * t), np.sin(2 * np.pi * f * t)], axis=1)


def decay_window(d, T, l_max, fast=0.3, slow=1.5, target=1e-2, shift=0.05):
    """(d, T) exponential windows: channel c decays to ``target`` after a fraction between
    ``fast`` and ``slow`` of l_max."""
    rates = np.linspace(-math.log(target) / slow, -math.log(target) / fast, d)[:, None]
    return np.exp(-rates * np.arange(T)[None, :] / l_max) + shift


class Sin(Module):
    """sin(w x) with a learned frequency per feature (Hyena's filter activation)."""

    def __init__(self, dim, w=1.0):
        super().__init__()
        self.freq = Parameter(np.full(dim, w, np.float32))

    def forward(self, x):
        return (x * self.freq).sin()


@register("hyena")
class Hyena(Module):
    """Hyena ("Hyena Hierarchy: Towards Larger Convolutional Language Models"): an order-N
    recurrence of gates and FFT long convolutions with implicit (MLP-generated) filters.

    Cost in T: O(N B d T log T). ``step`` reruns the operator over the kept prefix
    (O(t log t) per token): Hyena has no constant-size recurrent state.
    Options: order (N >= 1), l_max (longest sequence, sets the filters' time scale),
    n_freq, filter_hidden, short_size (taps of the short convolutions), seed.
    ``n_heads`` is unused.
    """

    def __init__(self, d_model, n_heads=1, causal=True, order=2, l_max=1024, n_freq=8,
                 filter_hidden=32, short_size=3, seed=None):
        super().__init__()
        if not causal:
            raise ValueError("hyena is causal by construction (accepted: causal=True)")
        if not isinstance(order, int) or order < 1:
            raise ValueError(f"hyena: order must be a positive int, got {order!r}")
        if not isinstance(l_max, int) or l_max < 1:
            raise ValueError(f"hyena: l_max must be a positive int, got {l_max!r}")
        gen = np.random.default_rng(seed) if seed is not None else None
        self.d_model, self.order, self.l_max, self.n_freq = d_model, order, l_max, n_freq
        self.proj = Linear(d_model, (order + 1) * d_model, generator=gen)
        self.short = CausalConv1d((order + 1) * d_model, short_size, generator=gen)
        self.fc1 = Linear(1 + 2 * n_freq, filter_hidden, generator=gen)
        self.act1 = Sin(filter_hidden)
        self.fc2 = Linear(filter_hidden, filter_hidden, generator=gen)
        self.act2 = Sin(filter_hidden)
        self.fc3 = Linear(filter_hidden, order * d_model, bias=False, generator=gen)
        self.beta = Parameter(np.zeros((order, d_model), np.float32))
        self.out = Linear(d_model, d_model, generator=gen)

    def filters(self, T):
        """The implicit long filters h (N, d, T), differentiable."""
        if T > self.l_max:
            raise ValueError(f"hyena: sequence length {T} exceeds l_max={self.l_max}")
        z = tensor(positional_features(T, self.l_max, self.n_freq).astype(self.beta.dtype))
        h = self.fc3(self.act2(self.fc2(self.act1(self.fc1(z)))))  # (T, N d)
        h = h.reshape(T, self.order, self.d_model).permute(1, 2, 0)  # (N, d, T)
        return h * tensor(decay_window(self.d_model, T, self.l_max).astype(self.beta.dtype))

    def forward(self, x):
        B, T, C = x.shape
        streams = self.short(self.proj(x)).split([C] * (self.order + 1), -1)  # N+1 x (B, T, C)
        h = self.filters(T)
        z = streams[0]  # v
        for i in range(self.order):
            z = streams[i + 1] * (causal_conv(z, h[i]) + z * self.beta[i])
        return self.out(z)

    def init_state(self, batch):
        return {"prefix": None}

    def step(self, x_t, state):
        """x_t (B, C) -> (y_t, state with the prefix grown by x_t). O(t log t): reruns
        ``forward`` on the prefix (no constant-size state exists)."""
        prefix = state["prefix"]
        prefix = x_t.unsqueeze(1) if prefix is None else cat([prefix, x_t.unsqueeze(1)], dim=1)
        return self.forward(prefix)[:, -1], {"prefix": prefix}

    def extra_repr(self):
        return f"d_model={self.d_model}, order={self.order}, l_max={self.l_max}"
