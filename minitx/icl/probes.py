"""Reading a prediction out of every layer of an in-context regressor.

Paper: "Transformers Learn Higher-Order Optimization Methods for In-Context
Learning: A Study with Linear Models" (Fu et al.).  To ask which algorithm a
layer has carried out so far, each layer's residual stream is read by a linear
probe fitted to the labels, and the probe's predictions are compared with the
iterates of gradient descent and of iterative Newton.

    hidden_states(model, tokens)   the residual stream after the embedding (layer 0)
                                   and after every block (layers 1 .. L), at the x tokens
    fit_linear_probe(H, y, ridge)  W, b minimising ||H W + b - y||^2 + ridge ||W||^2
    LayerProbes                    one probe per (layer, x position), fitted and applied

Cost: one forward pass, then one (C + 1) x (C + 1) solve per probe.
"""

from __future__ import annotations

import numpy as np

from ..autograd.function import no_grad
from ..autograd.tensor import Tensor


def hidden_states(model, tokens) -> list:
    """The residual stream of an ``ICLRegressor`` at its x tokens: a list of L + 1 arrays
    (B, K, C): entry 0 after the read-in and position embedding, entry l after block l.
    The model's own prediction is read_out(norm(entry L))."""
    z = np.asarray(tokens.data if isinstance(tokens, Tensor) else tokens, np.float32)
    cfg = model.config
    if z.ndim != 3 or z.shape[2] != cfg.dim + 1 or z.shape[1] > cfg.n_tokens:
        raise ValueError(f"hidden_states: expected tokens (B, T <= {cfg.n_tokens}, {cfg.dim + 1}),"
                         f" got {z.shape}")
    with no_grad():
        h = model.read_in(Tensor(z)) + model.pos_emb(np.arange(z.shape[1]))  # (B, T, C)
        states = [h.data[:, 0::2].astype(np.float64)]  # (B, K, C) at the x tokens
        for block in model.blocks:
            h = block(h)
            states.append(h.data[:, 0::2].astype(np.float64))
    return states


def fit_linear_probe(H, y, ridge: float = 1e-6):
    """Least squares with an intercept: (W (C,), b) minimising
    ||H W + b - y||^2 + ridge ||W||^2 over rows of H (N, C), y (N,)."""
    H, y = np.asarray(H, np.float64), np.asarray(y, np.float64)
    if H.ndim != 2 or y.shape != (H.shape[0],):
        raise ValueError(f"fit_linear_probe: expected H (N, C) and y (N,), got {H.shape}, "
                         f"{y.shape}")
    if ridge < 0:
        raise ValueError(f"fit_linear_probe: ridge must be >= 0, got {ridge}")
    mean_h, mean_y = H.mean(0), y.mean()
    Hc = H - mean_h  # centring removes the intercept from the solve
    gram = Hc.T @ Hc + ridge * len(H) * np.eye(H.shape[1])  # (C, C)
    W = np.linalg.lstsq(gram, Hc.T @ (y - mean_y), rcond=None)[0]
    return W, float(mean_y - mean_h @ W)


class LayerProbes:
    """A linear probe for every (layer, x position): probe (l, k) predicts y_k from the
    layer-l residual stream at x_k, the prediction with k in-context examples."""

    def __init__(self, ridge: float = 1e-6):
        self.ridge = ridge
        self.weights = None  # (L + 1, K, C)
        self.biases = None  # (L + 1, K)

    def fit(self, states, ys):
        """states: list of L + 1 arrays (B, K, C); ys (B, K)."""
        ys = np.asarray(ys, np.float64)
        fits = [[fit_linear_probe(H[:, k], ys[:, k], self.ridge) for k in range(ys.shape[1])]
                for H in states]
        self.weights = np.array([[w for w, _ in row] for row in fits])
        self.biases = np.array([[b for _, b in row] for row in fits])
        return self

    def predict(self, states) -> np.ndarray:
        """(L + 1, B, K): every layer's read-out prediction at every x position."""
        if self.weights is None:
            raise ValueError("LayerProbes.predict: call fit first")
        stacked = np.stack(states)  # (L + 1, B, K, C)
        if stacked.shape[0] != self.weights.shape[0] or stacked.shape[2] != self.weights.shape[1]:
            got = stacked.shape[:1] + stacked.shape[2:3]
            raise ValueError(f"LayerProbes.predict: fitted for {self.weights.shape[:2]} "
                             f"(layers, positions), got states for {got}")
        return np.einsum("lbkc,lkc->lbk", stacked, self.weights) + self.biases[:, None, :]
