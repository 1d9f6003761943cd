"""Reference for ch08_in_context_learning: each function calls the library where it has one.

The prompt format is ``minitx.tasks.icl.interleave``; the learners are
``minitx.icl.baselines`` (least squares, ridge, gradient descent, Newton-Schulz); the LSA
layer is ``minitx.icl.lsa.LinearSelfAttention``; the probe is ``minitx.icl.probes`` (with no
ridge) and the regret counter ``minitx.tasks.bandits.cumulative_regret``. The GD construction
is written out here; the graded tests check it against its definition (the LSA layer
reproducing a GD step). The functions do not call one another, so a planted bug in one
stays in that one.
"""

import numpy as np

from minitx.icl import baselines
from minitx.icl import probes
from minitx.icl.lsa import LinearSelfAttention
from minitx.tasks import bandits
from minitx.tasks.icl import interleave


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def interleave_prompt(xs, ys):
    return interleave(_f64(xs), _f64(ys), dtype=np.float64)


def least_squares_predict(X, y, x_q):
    return baselines.least_squares(X, y, x_q)


def ridge_predict(X, y, x_q, lam):
    if lam <= 0:
        raise ValueError(f"ridge_predict: lam must be > 0, got {lam}")
    return baselines.ridge(X, y, x_q, lam=lam)


def gd_predict(X, y, x_q, steps, lr):
    return baselines.gradient_descent(X, y, x_q, steps=steps, lr=lr)


def newton_schulz_inverse(S, steps):
    return baselines.newton_schulz(_f64(S), steps)[-1]


def lsa_forward(E, w_kq, w_pv):
    E = _f64(E)
    layer = LinearSelfAttention(E.shape[1] - 1, w_kq=_f64(w_kq), w_pv=_f64(w_pv))
    return layer(E).data


def lsa_weights_for_gd(dim, lr):
    # prediction = [W^PV]_{d,:} (E E^T / n) W^KQ [x_q; 0]; with W^KQ = lr [[I, 0], [0, 0]] and
    # W^PV = [[0, 0], [0, 1]] it is lr (1/n) sum_i y_i x_i . x_q, one GD step from w = 0.
    w_kq = np.zeros((dim + 1, dim + 1))
    w_kq[:dim, :dim] = lr * np.eye(dim)
    w_pv = np.zeros((dim + 1, dim + 1))
    w_pv[dim, dim] = 1.0
    return w_kq, w_pv


def fit_linear_probe(H, target):
    H, target = _f64(H), _f64(target)
    weights, bias = probes.fit_linear_probe(H, target, ridge=0.0)
    residual = target - (H @ weights + bias)
    total = ((target - target.mean()) ** 2).sum()
    r2 = 1.0 - (residual @ residual) / total if total > 0 else 1.0
    return weights, bias, float(r2)


def cumulative_regret(arm_means, actions):
    problems = bandits.Bandits(_f64(arm_means), kind="gaussian")  # any real means
    return bandits.cumulative_regret(problems, np.asarray(actions, dtype=np.int64))
