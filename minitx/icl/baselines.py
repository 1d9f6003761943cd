"""Classical learners an in-context learner is compared with, batched over prompts.

Every predictor has the signature ``predictor(X, y, x_q, ...) -> y_hat`` with

    X    (B, k, d)   the k labelled examples of each prompt
    y    (B, k)      their labels
    x_q  (B, d)      the query
    y_hat (B,)       the prediction for the query

and predicts 0 when k = 0 (the prior mean of y).  ``predict_all_positions``
runs one over every prefix of a prompt, the layout a causal model predicts in.

Papers: "What Can Transformers Learn In-Context? A Case Study of Simple Function
Classes" (Garg et al.: least squares, 3-nearest neighbours, averaging);
"What learning algorithm is in-context learning? Investigations with linear
models" (Akyurek et al.: ridge with lambda = sigma^2, steps of gradient descent);
"Transformers Learn Higher-Order Optimization Methods for In-Context Learning"
(Fu et al.: iterative Newton, the Newton-Schulz iteration for a pseudo-inverse).
"""

from __future__ import annotations

import numpy as np


def _check(X, y, x_q):
    X, y, x_q = np.asarray(X, np.float64), np.asarray(y, np.float64), np.asarray(x_q, np.float64)
    if X.ndim != 3 or y.shape != X.shape[:2] or x_q.shape != (X.shape[0], X.shape[2]):
        raise ValueError(f"baselines: expected X (B, k, d), y (B, k), x_q (B, d); got X {X.shape}, "
                         f"y {y.shape}, x_q {x_q.shape}")
    return X, y, x_q


def _apply(w, x_q):
    return np.einsum("bd,bd->b", w, x_q)  # y_hat = w . x_q


def zero(X, y, x_q):
    """Predict 0, the mean of y; its squared error is the scale other errors are read on."""
    return np.zeros(np.asarray(x_q).shape[0])


def least_squares_weights(X, y):
    """w = X^+ y: the least-squares fit, the minimum-norm one when k < d (X^+ the
    Moore-Penrose pseudo-inverse)."""
    return np.einsum("bdk,bk->bd", np.linalg.pinv(X), y)


def least_squares(X, y, x_q):
    """Ordinary least squares (minimum-norm interpolation when k < d)."""
    X, y, x_q = _check(X, y, x_q)
    if X.shape[1] == 0:
        return zero(X, y, x_q)
    return _apply(least_squares_weights(X, y), x_q)


def ridge_weights(X, y, lam):
    """w = (X^T X + lam I)^{-1} X^T y, the minimiser of ||X w - y||^2 + lam ||w||^2.
    With w ~ N(0, I) and label noise N(0, sigma^2) this is the posterior mean of w
    (the Bayes-optimal predictor) at lam = sigma^2."""
    if lam <= 0:
        raise ValueError(f"ridge: lam must be > 0 (use least_squares for lam = 0), got {lam}")
    d = X.shape[2]
    gram = np.einsum("bkd,bke->bde", X, X) + lam * np.eye(d)  # X^T X + lam I  (B, d, d)
    return np.linalg.solve(gram, np.einsum("bkd,bk->bd", X, y)[..., None])[..., 0]


def ridge(X, y, x_q, lam=0.1):
    """Ridge regression with penalty lam (Akyurek et al. use lam = sigma^2)."""
    X, y, x_q = _check(X, y, x_q)
    if X.shape[1] == 0:
        return zero(X, y, x_q)
    return _apply(ridge_weights(X, y, lam), x_q)


def nearest_neighbours(X, y, x_q, n_neighbors=3):
    """Mean label of the n_neighbors examples nearest to x_q (all of them when k is smaller);
    Garg et al. use 3."""
    if n_neighbors < 1:
        raise ValueError(f"nearest_neighbours: n_neighbors must be >= 1, got {n_neighbors}")
    X, y, x_q = _check(X, y, x_q)
    k = X.shape[1]
    if k == 0:
        return zero(X, y, x_q)
    dist = ((X - x_q[:, None, :]) ** 2).sum(-1)  # (B, k) squared distances
    nearest = np.argsort(dist, axis=1, kind="stable")[:, :min(n_neighbors, k)]
    return np.take_along_axis(y, nearest, axis=1).mean(1)


def averaging(X, y, x_q):
    """w = (1/k) sum_i y_i x_i, then y_hat = w . x_q (Garg et al.'s averaging estimator;
    one gradient step of size 1 from w = 0 on (1/2k)||X w - y||^2)."""
    X, y, x_q = _check(X, y, x_q)
    if X.shape[1] == 0:
        return zero(X, y, x_q)
    return _apply(np.einsum("bkd,bk->bd", X, y) / X.shape[1], x_q)


def safe_step_size(X):
    """1 / lambda_max((1/k) X^T X) per prompt: the largest step for which gradient descent
    on (1/2k)||X w - y||^2 decreases the loss monotonically along every direction."""
    k = X.shape[1]
    top = np.linalg.eigvalsh(np.einsum("bkd,bke->bde", X, X) / k)[:, -1]
    return 1.0 / np.maximum(top, 1e-12)


def gradient_descent_weights(X, y, steps, lr=None):
    """``steps`` steps of w <- w - lr (1/k) X^T (X w - y) from w = 0.
    lr may be a number or None (per-prompt ``safe_step_size``)."""
    if steps < 0:
        raise ValueError(f"gradient_descent: steps must be >= 0, got {steps}")
    B, k, d = X.shape
    eta = safe_step_size(X) if lr is None else np.full(B, float(lr))
    w = np.zeros((B, d))
    for _ in range(steps):
        residual = np.einsum("bkd,bd->bk", X, w) - y  # X w - y   (B, k)
        w = w - eta[:, None] * np.einsum("bkd,bk->bd", X, residual) / k
    return w


def gradient_descent(X, y, x_q, steps=1, lr=None):
    """Predict with ``steps`` steps of gradient descent on the squared loss, from w = 0."""
    X, y, x_q = _check(X, y, x_q)
    if X.shape[1] == 0:
        return zero(X, y, x_q)
    return _apply(gradient_descent_weights(X, y, steps, lr), x_q)


def newton_schulz(S, steps):
    """Iterative Newton for the pseudo-inverse of symmetric S (B, d, d):
    M_0 = alpha S,  M_{j+1} = 2 M_j - M_j S M_j  (Fu et al.'s form).
    The residual I - M_j S on the range of S squares every step, so it converges
    quadratically once below 1; alpha = 1 / lambda_max(S)^2 (any alpha in
    (0, 2 / lambda_max^2) converges).  Returns [M_0, ..., M_steps]."""
    if steps < 0:
        raise ValueError(f"newton_schulz: steps must be >= 0, got {steps}")
    top = np.linalg.eigvalsh(S)[:, -1]
    M = S / np.maximum(top, 1e-12)[:, None, None] ** 2
    history = [M]
    for _ in range(steps):
        M = 2 * M - M @ S @ M
        history.append(M)
    return history


def iterative_newton(X, y, x_q, steps=5):
    """w_j = M_j X^T y with M_j the j-th Newton-Schulz iterate for (X^T X)^+; it tends
    to the minimum-norm least-squares solution."""
    X, y, x_q = _check(X, y, x_q)
    if X.shape[1] == 0:
        return zero(X, y, x_q)
    M = newton_schulz(np.einsum("bkd,bke->bde", X, X), steps)[-1]
    return _apply(np.einsum("bde,be->bd", M, np.einsum("bkd,bk->bd", X, y)), x_q)


def predict_all_positions(predictor, xs, ys, **options):
    """(B, K) predictions: entry i predicts ys[:, i] from the i examples before it."""
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    columns = [predictor(xs[:, :i], ys[:, :i], xs[:, i], **options) for i in range(xs.shape[1])]
    return np.stack(columns, axis=1)


def squared_error_curve(predictions, ys, dim):
    """Mean over prompts of (y_hat - y)^2 / dim at each position (Garg et al.'s normalisation:
    the zero predictor scores 1 on x, w ~ N(0, I))."""
    return ((np.asarray(predictions) - np.asarray(ys)) ** 2).mean(0) / dim


# ----- whole optimisation paths, one pass each (Fu et al.'s layer-by-iteration comparison) ---
def gradient_descent_path(X, y, x_q, checkpoints, lr=None):
    """Predictions after each number of gradient descent steps in ``checkpoints`` (sorted,
    >= 0), from one run of w <- w - lr (1/k) X^T (X w - y) from w = 0: shape
    (len(checkpoints), B).  Row i equals ``gradient_descent(X, y, x_q, checkpoints[i], lr)``."""
    X, y, x_q = _check(X, y, x_q)
    steps = [int(s) for s in checkpoints]
    if not steps or min(steps) < 0 or steps != sorted(steps):
        raise ValueError(f"gradient_descent_path: checkpoints must be sorted and >= 0, got "
                         f"{checkpoints}")
    B, k, d = X.shape
    if k == 0:
        return np.zeros((len(steps), B))
    eta = safe_step_size(X) if lr is None else np.full(B, float(lr))
    w, done, out = np.zeros((B, d)), 0, []
    for target in steps:
        for _ in range(target - done):
            residual = np.einsum("bkd,bd->bk", X, w) - y  # X w - y   (B, k)
            w = w - eta[:, None] * np.einsum("bkd,bk->bd", X, residual) / k
        done = target
        out.append(_apply(w, x_q))
    return np.stack(out)  # (len(checkpoints), B)


def iterative_newton_path(X, y, x_q, steps):
    """Predictions of iterative Newton after 0, 1, ..., ``steps`` Newton-Schulz iterations:
    shape (steps + 1, B); row j equals ``iterative_newton(X, y, x_q, j)``."""
    X, y, x_q = _check(X, y, x_q)
    if X.shape[1] == 0:
        return np.zeros((steps + 1, X.shape[0]))
    xty = np.einsum("bkd,bk->bd", X, y)  # X^T y   (B, d)
    history = newton_schulz(np.einsum("bkd,bke->bde", X, X), steps)
    return np.stack([_apply(np.einsum("bde,be->bd", M, xty), x_q) for M in history])


# ----- the Bayes posterior predictive (Gaussian prior, known noise) ---------------------------
def bayes_predictive(X, y, x_q, noise_std, w_scale=1.0):
    """Posterior predictive of y_q for w ~ N(0, w_scale^2 I), y = w.x + N(0, noise_std^2):
    returns (mean, variance), each (B,).  With A = X^T X / sigma^2 + I / tau^2,
        mean = x_q^T A^{-1} X^T y / sigma^2,    variance = sigma^2 + x_q^T A^{-1} x_q.
    The variance does not depend on the labels y: only on where the inputs lie."""
    X, y, x_q = _check(X, y, x_q)
    if noise_std <= 0 or w_scale <= 0:
        raise ValueError(f"bayes_predictive: noise_std and w_scale must be > 0, got {noise_std}, "
                         f"{w_scale}")
    d = X.shape[2]
    A = np.einsum("bkd,bke->bde", X, X) / noise_std ** 2 + np.eye(d) / w_scale ** 2  # (B, d, d)
    rhs = np.stack([np.einsum("bkd,bk->bd", X, y) / noise_std ** 2, x_q], axis=-1)  # (B, d, 2)
    sol = np.linalg.solve(A, rhs)  # A^{-1} [X^T y / sigma^2, x_q]
    mean = np.einsum("bd,bd->b", sol[..., 0], x_q)
    var = noise_std ** 2 + np.einsum("bd,bd->b", sol[..., 1], x_q)
    return mean, var
