"""H3: a shift SSM and a diagonal SSM with multiplicative interactions, for recall.

Paper: "Hungry Hungry Hippos: Towards Language Modeling with State Space Models"
(Fu, Dao, Saab, Thomas, Rudra, Re, 2023).

With Q, K, V = x W_Q, x W_K, x W_V split into H heads of size d:

    Kbar = SSM_shift(K)            a shift SSM: A = the shift matrix, B = e_1, so its kernel
                                   is C itself and it is a causal convolution of
                                   ``shift_size`` taps (it remembers the last few tokens)
    S    = SSM_diag(Kbar (x) V)    per head, the outer product Kbar_t V_t^T (d x d numbers
                                   per token) through a diagonal SSM (S4D, ``s4d.DiagonalSSM``)
    O_t  = Q_t^T S_t               (d,) per head, then W_O

so the output compares the current query with keys of the previous tokens and returns
their values: the associative recall that LTI SSMs alone lack. With d = 1 (n_heads =
d_model) it is the elementwise form Q * SSM_diag(SSM_shift(K) * V).

The diagonal SSM has one kernel per (head, key coordinate); all d value coordinates of
that key coordinate share it.

Cost: O(B H d^2 T log T) for the FFT convolutions, O(H d N T) for the kernels;
``step`` O(B H d^2 N) per token with the last ``shift_size`` keys and a (B, H d, d, N/2)
complex state.

Glossary (code -> paper):
    q, k, v (B, T, H, d)     Q, K, V;     shift   SSM_shift (CausalConv1d over H d channels)
    kv      (B, T, H, d, d)  Kbar (x) V;  ssm     SSM_diag with H d channels
    s       (B, T, H, d, d)  its output;  y (B, T, H, d) = Q^T S
"""

from __future__ import annotations

import numpy as np

from ...autograd.factories import tensor
from ...nn import Linear, Module
from ...nn.conv import CausalConv1d
from ..registry import register
from ._conv import causal_conv
from .s4d import DiagonalSSM

__all__ = ["H3"]


@register("h3")
class H3(Module):
    """H3 ("Hungry Hungry Hippos: Towards Language Modeling with State Space Models"):
    Q * SSM_diag(SSM_shift(K) * V) per head, as FFT convolutions (``forward``) or a
    recurrence (``init_state`` / ``step``); they agree.

    Cost in T: O(B H d^2 T log T + H d N T); ``step`` O(B H d^2 N) per token.
    Options: d_state (N of the diagonal SSM, even), shift_size (taps of the shift SSM),
    init (S4D init of the diagonal SSM), seed.
    """

    def __init__(self, d_model, n_heads=1, causal=True, d_state=16, shift_size=4, init="lin",
                 seed=None):
        super().__init__()
        if not causal:
            raise ValueError("h3 is causal by construction (accepted: causal=True)")
        if d_model % n_heads:
            raise ValueError(f"h3: d_model {d_model} is not divisible by n_heads {n_heads}")
        if not isinstance(shift_size, int) or shift_size < 1:
            raise ValueError(f"h3: shift_size must be a positive int, got {shift_size!r}")
        gen = np.random.default_rng(seed) if seed is not None else None
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, d_model // n_heads
        self.qkv = Linear(d_model, 3 * d_model, generator=gen)
        self.shift = CausalConv1d(d_model, shift_size, bias=False, generator=gen)
        self.ssm = DiagonalSSM(d_model, d_state, init, generator=gen)  # channel = (head, key i)
        self.out = Linear(d_model, d_model, generator=gen)

    def _heads(self, t):
        return t.reshape(*t.shape[:-1], self.n_heads, self.head_dim)  # (..., H, d)

    def forward(self, x):
        B, T, C = x.shape
        H, d = self.n_heads, self.head_dim
        q, k, v = self.qkv(x).split([C, C, C], -1)
        k = self.shift(k)  # SSM_shift
        kv = self._heads(k).unsqueeze(-1) * self._heads(v).unsqueeze(-2)  # (B, T, H, d, d)
        K = self.ssm.kernel(T).reshape(H, d, 1, T).expand(H, d, d, T)  # shared over values
        s = causal_conv(kv.reshape(B, T, H * d * d), K.reshape(H * d * d, T))
        s = s.reshape(B, T, H, d, d)
        y = (self._heads(q).unsqueeze(-1) * s).sum(-2)  # (B, T, H, d): Q^T S
        return self.out(y.reshape(B, T, C))

    def init_state(self, batch):
        return {"shift": self.shift.init_state(batch),
                "ssm": self.ssm.init_state(batch, extra=(self.head_dim,))}

    def step(self, x_t, state):
        """x_t (B, C) -> (y_t (B, C), state). The diagonal SSM runs in NumPy (decoding)."""
        Bsz, C = x_t.shape
        H, d = self.n_heads, self.head_dim
        q, k, v = self.qkv(x_t).split([C, C, C], -1)
        k, shift = self.shift.step(k, state["shift"])
        kv = self._heads(k).unsqueeze(-1) * self._heads(v).unsqueeze(-2)  # (B, H, d, d)
        s, ssm = self.ssm.step(kv.data.reshape(Bsz, H * d, d).astype(np.float64),
                               state["ssm"])  # (B, H d, d)
        s = tensor(s.reshape(Bsz, H, d, d).astype(x_t.dtype))
        y = (self._heads(q).unsqueeze(-1) * s).sum(-2)  # (B, H, d)
        return self.out(y.reshape(Bsz, C)), {"shift": shift, "ssm": ssm}

    def extra_repr(self):
        return f"d_model={self.d_model}, n_heads={self.n_heads}"
