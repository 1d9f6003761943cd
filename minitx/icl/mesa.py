"""One causal linear self-attention layer trained to predict x_{t+1} from x_1 .. x_t.

Paper: "On Mesa-Optimization in Autoregressively Trained Transformers: Emergence
and Capability" (Zheng et al., NeurIPS 2024).  Glossary (code -> paper):

    E        (B, 3d, T)   columns e_t = (0, x_t, x_{t-1}), x_0 = 0
    w_kq     (3d, 3d)     W^{KQ}, merged key-query matrix
    w_pv     (3d, 3d)     W^{PV}, merged projection-value matrix
    rho_t                 the normaliser, t - 1 (the number of pairs (x_i, x_{i+1}) seen)
    y_hat_t  (B, d)       the first d rows of column t of
                          f(E) = E + W^{PV} E M (E^T W^{KQ} E) / rho,  M the causal mask
                          (key i <= query t); the residual adds 0 there

With W^{KQ}_{32} = a I and W^{PV}_{12} = b I (block (3, 2): key x_{i-1}, query x_t;
block (1, 2): value x_i) and every other block 0 -- the paper's diagonal
initialisation; its Theorem 4.1 has gradient flow keep this form and converge in the
product a b, under its condition on the distribution of x_1 -- the layer predicts

    y_hat_t = (a b / (t - 1)) sum_{i=1}^{t-1} x_{i+1} x_i^T x_t = W_hat_t x_t,

W_hat_t one gradient step of size a b / (t - 1) from W' = 0 on the in-context OLS loss
L(W') = 1/2 sum_i ||x_{i+1} - W' x_i||^2: the mesa-optimiser.  Cost: O(T^2 d) per
sequence (the masked T x T score matrix).

Not checked against the full text (only the paper's abstract and figure captions
were available): the embedding layout above and the normaliser rho_t; they are the
choices under which the diagonal form is exactly one GD step.  The paper works with
complex diagonal unitary W; ``minitx.tasks.icl.rotation_blocks`` is its real form.
"""

from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor
from ..nn import Module, Parameter


class CausalLinearAttention(Module):
    """The paper's one-layer linear causal self-attention over e_t = (0, x_t, x_{t-1})."""

    def __init__(self, dim: int, w_kq=None, w_pv=None, dtype=np.float64):
        super().__init__()
        self.dim = dim
        size = (3 * dim, 3 * dim)
        self.w_kq = Parameter(_matrix(w_kq, size, dtype))
        self.w_pv = Parameter(_matrix(w_pv, size, dtype))

    def forward(self, E):
        """E (B, 3d, T) -> y_hat (B, d, T): column t predicts x_{t+1}."""
        if E.ndim != 3 or E.shape[1] != 3 * self.dim or E.shape[2] < 2:
            raise ValueError(f"CausalLinearAttention: expected E (B, {3 * self.dim}, T >= 2), "
                             f"got {tuple(E.shape)}")
        T = E.shape[2]
        E = E if isinstance(E, Tensor) else Tensor(np.asarray(E, self.w_kq.dtype))
        scores = E.mT @ self.w_kq @ E  # e_i^T W^KQ e_t, key i by query t   (B, T, T)
        mask = np.triu(np.ones((T, T))) / np.maximum(np.arange(T), 1)  # i <= t, / rho_t
        values = self.w_pv[:self.dim] @ E  # first d rows of W^PV e_i   (B, d, T)
        return values @ (scores * Tensor(mask.astype(self.w_kq.dtype)))  # (B, d, T)

    def blocks(self):
        """(W^KQ_32, W^PV_12): the two d x d blocks of the mesa-optimiser."""
        d = self.dim
        return self.w_kq.data[2 * d:, d:2 * d], self.w_pv.data[:d, d:2 * d]


def _matrix(value, size, dtype):
    if value is None:
        return np.zeros(size, dtype)
    value = np.array(value, dtype=dtype)
    if value.shape != size:
        raise ValueError(f"CausalLinearAttention: weights must have shape {size}, got "
                         f"{value.shape}")
    return value


def diagonal_init(dim: int, a: float, b: float):
    """The paper's diagonal initialisation: W^KQ_32 = a I, W^PV_12 = b I, all else 0."""
    w_kq, w_pv = np.zeros((3 * dim, 3 * dim)), np.zeros((3 * dim, 3 * dim))
    w_kq[2 * dim:, dim:2 * dim] = a * np.eye(dim)
    w_pv[:dim, dim:2 * dim] = b * np.eye(dim)
    return w_kq, w_pv


def gaussian_init(dim: int, std: float, rng: np.random.Generator):
    """Every entry of W^KQ and W^PV ~ N(0, std^2): no structure put in by hand."""
    if std <= 0:
        raise ValueError(f"gaussian_init: std must be > 0, got {std}")
    return (std * rng.standard_normal((3 * dim, 3 * dim)),
            std * rng.standard_normal((3 * dim, 3 * dim)))


def ar_loss(model, E, xs):
    """Autoregressive loss: 1/2 ||y_hat_t - x_{t+1}||^2 averaged over t = 1 .. T-1 and the batch."""
    pred = model(E)[:, :, :-1]  # (B, d, T-1)
    target = Tensor(np.asarray(xs[:, 1:].transpose(0, 2, 1), model.w_kq.dtype))
    diff = pred - target
    return (diff * diff).sum(1).mean() * 0.5


# ----- the one-step GD predictor ------------------------------------------------------------
def gd_estimates(xs) -> np.ndarray:
    """W_hat_t / eta = (1 / (t - 1)) sum_{i<t} x_{i+1} x_i^T for t = 1 .. T: (B, T, d, d);
    t = 1 (no pair yet) gives 0."""
    xs = np.asarray(xs, np.float64)
    B, T, d = xs.shape
    outer = np.einsum("bti,btj->btij", xs[:, 1:], xs[:, :-1])  # x_{i+1} x_i^T   (B, T-1, d, d)
    sums = np.concatenate([np.zeros((B, 1, d, d)), np.cumsum(outer, axis=1)], axis=1)
    return sums / np.maximum(np.arange(T), 1)[None, :, None, None]


def gd_predict(xs, eta=1.0) -> np.ndarray:
    """One gradient step from W' = 0 on 1/2 sum_i ||x_{i+1} - W' x_i||^2 (i < t), step
    eta / (t - 1), applied to x_t: (B, d, T) in the layer's output layout."""
    return eta * np.einsum("btij,btj->bit", gd_estimates(xs), np.asarray(xs, np.float64))


def fit_eta(pred, xs) -> float:
    """The eta minimising ||pred - gd_predict(xs, eta)||^2 over columns t = 2 .. T."""
    g = gd_predict(xs)[:, :, 1:]
    return float((np.asarray(pred)[:, :, 1:] * g).sum() / (g * g).sum())


def best_eta(xs) -> float:
    """The step minimising the autoregressive loss within the one-step-GD family:
    least squares of x_{t+1} on gd_predict(xs, 1)_t over t = 2 .. T-1."""
    g = gd_predict(xs)[:, :, 1:-1]
    target = np.asarray(xs, np.float64)[:, 2:].transpose(0, 2, 1)
    return float((target * g).sum() / (g * g).sum())
