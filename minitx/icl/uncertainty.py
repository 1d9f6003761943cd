"""An in-context regressor that predicts a mean and a variance, trained by Gaussian NLL.

Paper: "Towards Better Understanding of In-Context Learning Ability from In-Context
Uncertainty Quantification" (Liu, Cai, Chen & Li): the transformer predicts both
E[y | x, context] and Var(y | x, context).  The model is ``ICLRegressor`` with a
two-number read-out:

    tokens (B, T, d+1) -> ICLRegressor backbone -> Linear(C, 2)    (B, T, 2)
    -> at the x tokens: mean mu (B, K) and log variance s (B, K)

and the loss is the Gaussian negative log-likelihood averaged over prompts and
positions,  NLL = 1/2 [log(2 pi) + s + (y - mu)^2 exp(-s)],  minimised by
mu = E[y | ...] and exp(s) = Var(y | ...).  Cost: that of the backbone, O(T^2) per layer.

Calibration helpers: ``central_coverage`` (the fraction of labels inside the central
p-interval mu +- z_p sqrt(var)) and ``gaussian_nll``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtri

from ..autograd.tensor import Tensor
from ..nn import Linear, init
from .models import ICLConfig, ICLRegressor, trunk

LOG_VAR_RANGE = (-9.0, 9.0)  # clamp: a variance of exp(-9) .. exp(9) keeps the NLL finite


class ICLGaussianRegressor(ICLRegressor):
    def __init__(self, cfg: ICLConfig, seed: int = 0):
        super().__init__(cfg, seed)
        rng = np.random.default_rng([seed, 1])
        self.read_out = Linear(cfg.d_model, 2, generator=rng)  # (mean, log variance)
        init.zeros_(self.read_out.bias)

    def forward(self, tokens):
        """tokens (B, T, d+1) -> (mean (B, ceil(T/2)), log variance (B, ceil(T/2)))."""
        h = trunk(self, tokens, self.config.dim + 1, self.config.n_tokens)  # (B, T, C)
        out = self.read_out(h)[:, 0::2]  # (B, ceil(T/2), 2) at the x tokens
        return out[:, :, 0], out[:, :, 1].clamp(*LOG_VAR_RANGE)

    def loss(self, tokens, ys):
        """Gaussian NLL averaged over prompts and x positions (without the log 2 pi / 2)."""
        mean, log_var = self(tokens)
        y = Tensor(np.asarray(ys, dtype=mean.dtype)[:, :mean.shape[1]])
        diff = mean - y
        return ((log_var + diff * diff * (-log_var).exp()) * 0.5).mean()

    def predict(self, tokens):
        """(mean, variance) as float64 arrays (B, K)."""
        mean, log_var = self(tokens)
        return mean.data.astype(np.float64), np.exp(log_var.data.astype(np.float64))


def gaussian_nll(mean, var, y) -> np.ndarray:
    """-log N(y; mean, var), elementwise."""
    mean, var, y = (np.asarray(a, np.float64) for a in (mean, var, y))
    if np.any(var <= 0):
        raise ValueError("gaussian_nll: var must be > 0")
    return 0.5 * (math.log(2 * math.pi) + np.log(var) + (y - mean) ** 2 / var)


def central_coverage(mean, var, y, levels) -> np.ndarray:
    """For every level p: the fraction of y inside mean +- z sqrt(var), z the (1 + p) / 2
    standard-normal quantile (a calibrated predictor scores p)."""
    levels = np.asarray(levels, np.float64)
    if np.any((levels <= 0) | (levels >= 1)):
        raise ValueError(f"central_coverage: levels must be in (0, 1), got {levels}")
    z = np.abs(np.asarray(y, np.float64) - mean) / np.sqrt(var)  # standardised distance
    return np.array([(z <= ndtri((1 + p) / 2)).mean() for p in levels])
