"""Exercise set 8, in-context learning: the learners a transformer is compared with, and
the construction that makes one attention layer a learning algorithm.

You build the prompt a model reads, the classical learners it is measured against (least
squares, ridge, gradient descent, iterative Newton), one linear self-attention layer and
the weights that turn it into a step of gradient descent, a linear probe that reads a
quantity out of hidden states, and the regret counter of the in-context bandit lab.
The tests compare each function with minitx's own on random inputs and check it
against a definition (the LSA layer with your weights must predict what one step of
gradient descent predicts; Newton's iterate must invert the matrix; ...).

Replace each `raise NotImplementedError(...)` with your code, then run
`minitx grade ch08` and read the hints of the failing tests. Keep the names and the
signatures.

Conventions, as in minitx.icl.baselines: a batch of B prompts, each with k labelled
examples in d dimensions:
    X    (B, k, d)   inputs x_1 .. x_k
    y    (B, k)      labels y_1 .. y_k
    x_q  (B, d)      the query
    y_hat (B,)       the prediction for the query
Every predictor returns 0 for a prompt with k = 0 examples. Arrays are float64; return
new arrays rather than changing the inputs.
"""

import numpy as np  # noqa: F401  (for your code)


# ----- the prompt ------------------------------------------------------------------------

def interleave_prompt(xs, ys):
    """The token sequence a GPT-style model reads (Garg et al.'s format).

    xs (B, K, d), ys (B, K) -> tokens (B, 2K - 1, d + 1), float64:
        token 2i   = [x_{i+1}, 0]        (an x token: d inputs, then a 0 in the label slot)
        token 2i+1 = [0, ..., 0, y_{i+1}] (a y token: zeros, then the label)
    for i = 0 .. K-1, except that the last label y_K is left out: it is what the model must
    predict when it reads x_K. So the sequence ends with the x token of x_K.
    """
    raise NotImplementedError("tokens = zeros((B, 2K-1, d+1)); tokens[:, 0::2, :d] = xs; "
                              "tokens[:, 1::2, d] = ys[:, :-1]")


# ----- the classical learners -------------------------------------------------------------

def least_squares_predict(X, y, x_q):
    """Ordinary least squares: w = X^+ y (the Moore-Penrose pseudo-inverse, so that with
    fewer examples than dimensions, k < d, w is the minimum-norm interpolating solution),
    y_hat = w . x_q. 0 when k = 0."""
    raise NotImplementedError("w = np.linalg.pinv(X) @ y[..., None] per prompt (pinv works on "
                              "stacks), then y_hat = (w[..., 0] * x_q).sum(-1)")


def ridge_predict(X, y, x_q, lam):
    """Ridge regression: w = (X^T X + lam I)^{-1} X^T y, y_hat = w . x_q; 0 when k = 0.

    With w ~ N(0, I) and label noise N(0, sigma^2) this is the posterior mean of w, the
    Bayes-optimal prediction, at lam = sigma^2. Raise ValueError naming lam if lam <= 0.
    """
    raise NotImplementedError("gram = X^T X + lam I per prompt (np.einsum('bkd,bke->bde')), "
                              "solve gram w = X^T y with np.linalg.solve")


def gd_predict(X, y, x_q, steps, lr):
    """``steps`` steps of gradient descent on L(w) = (1/2k) ||X w - y||^2 from w = 0:
        w <- w - lr * (1/k) X^T (X w - y)
    then y_hat = w . x_q. 0 when k = 0; steps = 0 predicts 0 too."""
    raise NotImplementedError("loop: residual = X @ w - y (B, k); w = w - lr * "
                              "einsum('bkd,bk->bd', X, residual) / k")


def newton_schulz_inverse(S, steps):
    """Iterative Newton (Newton-Schulz) for the inverse of symmetric positive definite
    S (B, d, d), as in "Transformers Learn Higher-Order Optimization Methods for In-Context
    Learning":
        M_0 = S / lambda_max(S)^2,     M_{j+1} = 2 M_j - M_j S M_j
    Returns M_steps (B, d, d). lambda_max(S) is S's largest eigenvalue, per prompt
    (np.linalg.eigvalsh returns them in ascending order)."""
    raise NotImplementedError("top = eigvalsh(S)[:, -1]; M = S / top[:, None, None]**2; "
                              "repeat M = 2 M - M @ S @ M")


# ----- one linear self-attention layer ----------------------------------------------------

def lsa_forward(E, w_kq, w_pv):
    """The linear self-attention layer of "Trained Transformers Learn Linear Models
    In-Context" (Zhang, Frei & Bartlett):
        f(E) = E + W^PV E (E^T W^KQ E) / n
    E (B, d+1, n+1) holds one example per column, [[x_1 .. x_n, x_q], [y_1 .. y_n, 0]];
    w_kq, w_pv (d+1, d+1). n is the number of labelled examples (columns minus one).
    Returns f(E), (B, d+1, n+1); the layer's prediction for y_q is f(E)[:, d, n]."""
    raise NotImplementedError("scores = E^T W_kq E (B, n+1, n+1) with np.swapaxes(E, 1, 2); "
                              "return E + W_pv @ E @ scores / n")


def lsa_weights_for_gd(dim, lr):
    """Weights (w_kq, w_pv), each (dim+1, dim+1), that make ``lsa_forward`` predict exactly
    what one step of ``gd_predict`` with this lr predicts (von Oswald et al.; Zhang et al.
    show gradient flow finds such weights, preconditioned):
        f(E)[:, d, n] == gd_predict(X, y, x_q, steps=1, lr=lr)
    Hint: the prediction is row d of W^PV times (E E^T / n) times W^KQ times the query
    column; make W^PV read the label row only and W^KQ read the x part only."""
    raise NotImplementedError("w_kq = zeros; w_kq[:d, :d] = lr * I; w_pv = zeros; "
                              "w_pv[d, d] = 1")


# ----- reading models and agents ------------------------------------------------------------

def fit_linear_probe(H, target):
    """A linear probe: the least-squares fit of target (N,) from features H (N, F) with a
    bias. Returns (weights (F,), bias (float), r2 (float)) where r2 = 1 - SS_res / SS_tot is
    the fraction of the target's variance the probe explains on these same rows
    (SS_tot = sum (target - mean)^2; r2 = 1 when the fit is exact). Use np.linalg.lstsq on
    H with a column of ones appended."""
    raise NotImplementedError("A = hstack([H, ones((N, 1))]); coef = lstsq(A, target)[0]; "
                              "weights, bias = coef[:-1], coef[-1]; r2 from the residual")


def cumulative_regret(arm_means, actions):
    """The pseudo-regret of a bandit agent, summed over time.

    arm_means (B, A): the expected reward of each arm in B bandit problems; actions (B, T)
    integer: the arm pulled at each step. The regret of one step is
    max_a arm_means[b, a] - arm_means[b, actions[b, t]]; return the running sum over t,
    shape (B, T), float64 (entry t counts steps 0 .. t)."""
    raise NotImplementedError("best = arm_means.max(1); got = np.take_along_axis(arm_means, "
                              "actions, 1); return np.cumsum(best[:, None] - got, axis=1)")
