"""Learners for sparse linear functions, batched over prompts, with the signature of
``minitx.icl.baselines``: ``predictor(X (B, k, d), y (B, k), x_q (B, d)) -> y_hat (B,)``.

    lasso                     argmin_w (1/2k) ||X w - y||^2 + lam ||w||_1, by cyclic
                              coordinate descent along a path of penalties
    oracle_least_squares      least squares on the true support (an oracle that knows
                              which coordinates are non-zero; exact from k = nnz on)

Paper: "Pretraining Data Mixtures Enable Narrow Model Selection Capabilities in
Transformer Models" (Yadlowsky et al.) compares the in-context learner on
sparse linear functions with the Lasso and on dense ones with least squares.
Cost: lasso is O(k d^2 + n_lambdas * iters * d^2) per prompt; the oracle one pseudo-inverse.
"""

from __future__ import annotations

import numpy as np

from .baselines import _apply, _check, least_squares_weights, zero


def soft_threshold(z, lam):
    """sign(z) max(|z| - lam, 0), the proximal map of lam |.|."""
    return np.sign(z) * np.maximum(np.abs(z) - lam, 0.0)


def lasso_weights(X, y, lam, iters=50, n_lambdas=20):
    """Coordinate descent for (1/2k)||X w - y||^2 + lam ||w||_1, all prompts at once.

    With G = X^T X / k and c = X^T y / k, coordinate j is set to
        w_j = soft(c_j - sum_{i != j} G_ji w_i, lam) / G_jj,
    the exact minimiser over w_j, so the objective never increases.  Plain coordinate
    descent crawls when k < d (the objective is nearly flat along the null space of X),
    so it runs along a path of penalties from lam_max = max_j |c_j| (where w = 0 is optimal)
    down to lam, ``n_lambdas`` of them geometrically spaced, ``iters`` sweeps each, each
    starting from the previous solution (warm starts)."""
    if lam <= 0:
        raise ValueError(f"lasso: lam must be > 0, got {lam}")
    if iters < 1 or n_lambdas < 1:
        raise ValueError(f"lasso: iters and n_lambdas must be >= 1, got {iters}, {n_lambdas}")
    B, k, d = X.shape
    G = np.einsum("bkd,bke->bde", X, X) / k  # (B, d, d)
    c = np.einsum("bkd,bk->bd", X, y) / k  # (B, d)
    diag = np.einsum("bdd->bd", G)
    safe = np.where(diag > 0, diag, 1.0)
    w = np.zeros((B, d))
    lam_max = max(float(np.abs(c).max()), lam)
    for level in np.geomspace(lam_max, lam, n_lambdas):
        for _ in range(iters):
            for j in range(d):
                rho = c[:, j] - np.einsum("bi,bi->b", G[:, j], w) + diag[:, j] * w[:, j]
                w[:, j] = np.where(diag[:, j] > 0, soft_threshold(rho, level) / safe[:, j], 0.0)
    return w


def lasso_objective(X, y, w, lam):
    """(1/2k)||X w - y||^2 + lam ||w||_1 per prompt: (B,)."""
    k = X.shape[1]
    return ((np.einsum("bkd,bd->bk", X, w) - y) ** 2).sum(1) / (2 * k) + lam * np.abs(w).sum(1)


def lasso(X, y, x_q, lam=0.01, iters=50, n_lambdas=20):
    """The Lasso's prediction (lam in the units of (1/2k)||X w - y||^2)."""
    X, y, x_q = _check(X, y, x_q)
    if X.shape[1] == 0:
        return zero(X, y, x_q)
    return _apply(lasso_weights(X, y, lam, iters, n_lambdas), x_q)


def oracle_least_squares(X, y, x_q, support):
    """Minimum-norm least squares using only the coordinates in ``support`` (B, d) bool."""
    X, y, x_q = _check(X, y, x_q)
    support = np.asarray(support, dtype=bool)
    if support.shape != (X.shape[0], X.shape[2]):
        raise ValueError(f"oracle_least_squares: support must have shape "
                         f"{(X.shape[0], X.shape[2])}, got {support.shape}")
    if X.shape[1] == 0:
        return zero(X, y, x_q)
    w = least_squares_weights(X * support[:, None, :], y)  # zero off the support
    return _apply(w * support, x_q)
