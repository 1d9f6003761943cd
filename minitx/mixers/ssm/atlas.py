"""ATLAS: a matrix memory trained at test time on a sliding window of past tokens (the Omega
rule), with a polynomial feature map and a plain-gradient or Muon-style update.

Paper: "ATLAS: Learning to Optimally Memorize the Context at Test Time" (Behrouz et al.,
2025). The memory M maps features of keys to values and, at every token, takes an
optimisation step on the loss over the last c tokens, not only the newest one:

    loss_t(M) = sum_{i = t-c+1}^{t} gamma_i || M phi(k_i) - v_i ||^2         (Omega rule)
    M  <- alpha_t M                                                          (forgetting)
    repeat inner_steps times:
        S  <- theta_t S + grad loss_t(M) = theta_t S + 2 sum_i gamma_i (M phi_i - v_i) phi_i^T
        M  <- M - eta_t U(S)        U = identity ("gd", OmegaNet) or Newton-Schulz ("muon", Atlas)
    y_t = M phi(q_t)

With c = 1 and no momentum this is the (gated) delta rule; c > 1 makes the memory fit a span
of context. phi is a polynomial feature map, phi(x) = (a_1 x, a_2 vec(x x^T)) for degree 2,
with learned a_p initialised at 1/p! (the Taylor coefficients of exp, which the paper uses to
motivate polynomial features as an approximation of softmax's exp(q.k)). The Muon map
U(S) ~ the orthogonal factor of S, by five Newton-Schulz iterations of Muon.

Only a recurrent form is exact: the update is non-linear in M (Newton-Schulz) and, even for
"gd", the window makes the transition of M a data-dependent matrix, so there is no masked
T x T form. The paper trains chunk-wise in parallel (as Titans does, taking a chunk's
gradients at the memory of the chunk's start), which approximates this recurrence rather
than equalling it. Here ``forward`` runs the token loop with autograd ops and ``step`` is the
same update for decoding; the tests compare both with a NumPy re-run of the update loop.
The order "forget, then inner steps", the gate parametrisation (sigmoids of a linear map of
x_t) and a token weight gamma_i that does not depend on t (the paper's gamma_i^(t) may) are
this file's choices.

Glossary (code -> paper):
    q, k, v     (B, T, H, d)        query, key, value (q, k L2-normalised)
    phi         (.., F)             polynomial feature map phi, F = d (+ d^2 for degree 2)
    M           (B, H, d, F)        the memory: a matrix (the paper's main models use a small
                                    MLP memory; a matrix is the simplest it analyses)
    S           (B, H, d, F)        momentum of the inner optimiser
    window      c                   the Omega rule's context length
    gamma, eta, alpha, theta  (B, T, H)  per-token gates (sigmoid of a linear map of x):
                                    token weight, step size, retention, momentum
    coef        (degree,)           a_p, the feature map's coefficients

Cost in T: O(T H d F (c + inner_steps (1 + 10 d))) time, i.e. linear in T; memory for backward
O(T H d F) (every memory state is kept by the autograd graph); ``step`` O(H d F (c + 10 d))
per token with an O(H (d F + c F)) state.
"""

from __future__ import annotations

import math

import numpy as np

from ...autograd.ops_linalg import einsum
from ...autograd.ops_shape import cat, stack
from ...nn import Linear, Module, Parameter
from ..registry import register

__all__ = ["Atlas", "newton_schulz", "NS_COEFFS"]

NS_COEFFS = (3.4445, -4.7750, 2.0315)  # Muon's quintic Newton-Schulz coefficients
OPTIMIZERS = ("gd", "muon")


def newton_schulz(G, steps=5, eps=1e-7):
    """G (..., m, n) -> approximately the orthogonal factor U V^T of G = U S V^T (Muon)."""
    a, b, c = NS_COEFFS
    X = G / ((G * G).sum((-2, -1), keepdim=True) + eps).sqrt()  # spectral norm <= 1
    for _ in range(steps):
        A = X @ X.mT  # (..., m, m)
        X = a * X + (b * A + c * (A @ A)) @ X
    return X


@register("atlas")
class Atlas(Module):
    """ATLAS memory (Omega rule over a window of ``window`` tokens, polynomial features of
    ``degree`` 1 or 2, ``optimizer`` "gd" or "muon", ``inner_steps`` per token) as a causal
    token mixer (B, T, d_model) -> (B, T, d_model). Recurrent only (see the module notes)."""

    def __init__(self, d_model, n_heads=1, causal=True, window=4, degree=2, optimizer="muon",
                 inner_steps=1, eta_max=0.5):
        super().__init__()
        if not causal:
            raise ValueError("atlas is a left-to-right memory (accepted: causal=True)")
        if d_model % n_heads:
            raise ValueError(f"atlas: d_model {d_model} not divisible by n_heads {n_heads}")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"atlas: optimizer {optimizer!r} unknown (accepted: {OPTIMIZERS})")
        if degree not in (1, 2):
            raise ValueError(f"atlas: degree must be 1 or 2, got {degree}")
        for name, value in (("window", window), ("inner_steps", inner_steps)):
            if int(value) < 1:
                raise ValueError(f"atlas: {name} must be a positive integer, got {value}")
        self.d_model, self.H, self.d = d_model, n_heads, d_model // n_heads
        self.window, self.degree, self.optimizer = int(window), degree, optimizer
        self.inner_steps, self.eta_max = int(inner_steps), float(eta_max)
        self.F = self.d + (self.d ** 2 if degree == 2 else 0)
        self.qkv = Linear(d_model, 3 * d_model, bias=False)
        self.gates = Linear(d_model, 4 * n_heads)  # -> gamma, eta, alpha, theta
        self.gates.bias.data[2 * n_heads:3 * n_heads] = 4.0  # retention alpha starts near 1
        self.coef = Parameter(np.array([1 / math.factorial(p) for p in range(1, degree + 1)],
                                       np.float32))
        self.out = Linear(d_model, d_model, bias=False)

    # ----- pieces ---------------------------------------------------------------------------
    def phi(self, x):
        """x (..., d) -> (..., F): (a_1 x) or (a_1 x, a_2 vec(x x^T))."""
        if self.degree == 1:
            return self.coef[0] * x
        outer = (x.unsqueeze(-1) * x.unsqueeze(-2)).reshape(*x.shape[:-1], self.d ** 2)
        return cat([self.coef[0] * x, self.coef[1] * outer], -1)  # (..., d + d^2)

    def _project(self, x_t):
        """x_t (B, d_model) -> phi(q), phi(k) (B, H, F), v (B, H, d), gates (B, H) x 4."""
        H, d = self.H, self.d
        q, k, v = (a.reshape(a.shape[0], H, d) for a in self.qkv(x_t).split([self.d_model] * 3, -1))
        unit = lambda a: a / ((a * a).sum(-1, keepdim=True) + 1e-6).sqrt()  # noqa: E731
        g = self.gates(x_t).sigmoid()  # (B, 4H)
        gamma, eta, alpha, theta = g.split([H] * 4, -1)
        return self.phi(unit(q)), self.phi(unit(k)), v, gamma, eta * self.eta_max, alpha, theta

    def init_state(self, batch):
        dt = self.qkv.weight.dtype
        H, c, d, F = self.H, self.window, self.d, self.F
        return {"M": np.zeros((batch, H, d, F), dt), "S": np.zeros((batch, H, d, F), dt),
                "phi": np.zeros((batch, H, c, F), dt), "v": np.zeros((batch, H, c, d), dt),
                "gamma": np.zeros((batch, H, c), dt)}  # empty window slots weigh 0

    def step(self, x_t, state):
        """x_t (B, d_model) -> (y_t (B, d_model), new state): one Omega-rule update."""
        fq, fk, v, gamma, eta, alpha, theta = self._project(x_t)
        slide = lambda w, new: cat([w[:, :, 1:], new.unsqueeze(2)], 2)  # noqa: E731
        win_phi, win_v = slide(state["phi"], fk), slide(state["v"], v)  # (B, H, c, F), (B, H, c, d)
        win_g = slide(state["gamma"], gamma)  # (B, H, c)
        col = lambda a: a.unsqueeze(-1).unsqueeze(-1)  # noqa: E731  (B, H) -> (B, H, 1, 1)
        M, S = col(alpha) * state["M"], state["S"]
        for _ in range(self.inner_steps):
            err = einsum("bhdf,bhcf->bhcd", M, win_phi) - win_v  # (B, H, c, d)
            grad = 2 * einsum("bhc,bhcd,bhcf->bhdf", win_g, err, win_phi)  # (B, H, d, F)
            S = col(theta) * S + grad
            M = M - col(eta) * (newton_schulz(S) if self.optimizer == "muon" else S)
        y = einsum("bhdf,bhf->bhd", M, fq)  # (B, H, d)
        new = {"M": M, "S": S, "phi": win_phi, "v": win_v, "gamma": win_g}
        return self.out(y.reshape(x_t.shape[0], self.d_model)), new

    def forward(self, x):
        if x.ndim != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"atlas: expected input (B, T, {self.d_model}), got {tuple(x.shape)}")
        state, outs = self.init_state(x.shape[0]), []
        for x_t in x.split(1, 1):  # split once: no x[:, t] in the graph
            y, state = self.step(x_t.squeeze(1), state)
            outs.append(y)
        return stack(outs, 1)  # (B, T, d_model)

    def extra_repr(self):
        return (f"d_model={self.d_model}, n_heads={self.H}, window={self.window}, "
                f"degree={self.degree}, optimizer={self.optimizer!r}, "
                f"inner_steps={self.inner_steps}")
