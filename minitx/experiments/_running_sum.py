"""The running-sum auxiliary loss and the running-sum probe (a helper for ``multiplication``).

Paper: "Why Can't Transformers Learn Multiplication? Reverse-Engineering Reveals
Long-Range Dependency Pitfalls" (Bai et al.). At the step that writes answer digit c_k
the model should hold the running sum c_hat_k = sum_{i+j=k} a_i b_j + r_{k-1}
(``minitx.tasks.multiplication.running_sums``). The paper trains a linear regression
probe from the hidden state at each answer step to c_hat_k together with the model,
adding its squared error to the language-modelling loss; this gives the 2-layer model
the inductive bias to keep the long-range information. Here the probe reads the
residual stream after block ``layer`` at the position whose next token is c_k:

    loss = CE(next tokens) + weight * mean_k (w . h_k + b - c_hat_k / scale)^2

The post-hoc probe fits the same linear map by ridge regression on a frozen model's
hidden states and reports R^2 on held-out examples, per layer.
"""

from __future__ import annotations

import numpy as np

from ..autograd.function import no_grad
from ..nn import Linear, Module
from ..models.gpt import token_loss
from . import _seq2seq as s2s


class ProbedGPT(Module):
    """A GPT plus a linear head (d_model -> 1) on the residual stream after block ``layer``."""

    def __init__(self, gpt, layer: int):
        super().__init__()
        if not 0 <= layer < gpt.config.n_layer:
            raise ValueError(f"ProbedGPT: layer must be in [0, {gpt.config.n_layer}), got {layer}")
        self.gpt = gpt
        self.layer = layer
        self.probe = Linear(gpt.config.d_model, 1)

    def forward(self, idx, targets=None):
        return self.gpt(idx, targets)


def target_array(ids, answer_start, sums, scale):
    """(N, L) float32 regression targets: c_hat_k / scale at the position that predicts
    answer digit k (answer_start[n] - 1 + k), NaN elsewhere. sums (N, 2n)."""
    out = np.full(ids.shape, np.nan, np.float32)
    k = np.arange(sums.shape[1])
    for row, start in enumerate(answer_start):
        out[row, start - 1 + k] = sums[row] / scale
    return out


def aux_loss_fn(weight: float):
    """loss_fn(model, (inputs, targets, running-sum targets)) for minitx.train.train."""
    def loss_fn(model, batch):
        inputs, targets, sums = batch
        logits, states = s2s.hidden_states(model.gpt, inputs)  # (B, T, V), [(B, T, C)]
        B, T, _ = logits.shape
        lm = token_loss(logits, targets)
        pred = model.probe(states[model.layer]).reshape(B, T)  # (B, T)
        mask = np.isfinite(sums).astype(np.float32)
        diff = (pred - np.nan_to_num(sums)) * mask
        mse = (diff * diff).sum() * (1.0 / max(1.0, float(mask.sum())))
        return lm + weight * mse
    return loss_fn


@no_grad()
def collect(model, ids, positions):
    """Hidden states after every block at the given positions: (n_layer, N, K, C).
    ids (N, L) teacher-forced sequences, positions (N, K) int."""
    _, states = s2s.hidden_states(model, ids)
    rows = np.arange(len(ids))[:, None]
    return np.stack([h.data[rows, positions] for h in states])  # (layers, N, K, C)


def probe_r2(features, targets, ridge: float = 1e-2, split: float = 0.5) -> float:
    """Fit ridge regression features (N, C) -> targets (N,) on the first ``split`` of the
    rows; R^2 on the rest (1 = the value is linearly readable, <= 0 = not at all)."""
    x = np.asarray(features, np.float64)
    y = np.asarray(targets, np.float64)
    cut = int(len(x) * split)
    mean_x, mean_y = x[:cut].mean(0), y[:cut].mean()
    xc = x[:cut] - mean_x
    w = np.linalg.solve(xc.T @ xc + ridge * cut * np.eye(x.shape[1]), xc.T @ (y[:cut] - mean_y))
    pred = (x[cut:] - mean_x) @ w + mean_y
    resid = ((y[cut:] - pred) ** 2).sum()
    total = ((y[cut:] - y[cut:].mean()) ** 2).sum()
    return float(1.0 - resid / total) if total > 0 else 0.0
