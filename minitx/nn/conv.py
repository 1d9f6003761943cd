"""Depthwise causal 1-D convolution on (B, T, C): the short filter in front of H3, Mamba,
Hyena and friends.

Each channel c has its own filter w[c, 0..K-1]; output t sees inputs t-K+1..t only:

    y[b, t, c] = sum_k w[c, k] * x[b, t - K + 1 + k, c] + bias[c]      (x[t < 0] = 0)

so w[c, K-1] multiplies the current input and w[c, 0] the oldest. This is PyTorch's
``nn.Conv1d(C, C, K, groups=C, padding=K-1)`` followed by keeping the first T outputs,
with the weight stored as (C, K) instead of (C, 1, K), and the layout (B, T, C).

Backward (both sums run over the K taps, each one a shifted copy of the input):

    dx[t] = sum_k w[k] * dy[t + K - 1 - k]        (dy[t >= T] = 0)
    dw[c, k] = sum_{b, t} dy[b, t, c] * x[b, t - K + 1 + k, c],   dbias[c] = sum_{b, t} dy[b, t, c]

Cost: O(B T C K) time, no T x T anything. ``step`` decodes one token in O(B C K) with
the last K-1 inputs as state.
"""

from __future__ import annotations

import math

import numpy as np

from ..autograd.function import Function
from ..autograd.ops_shape import cat
from . import init
from .module import Module, Parameter

__all__ = ["CausalConv1d", "causal_conv1d", "causal_conv1d_forward", "causal_conv1d_backward"]


def causal_conv1d_forward(x, w, bias=None):
    """x (B, T, C), w (C, K), bias (C,) or None -> y (B, T, C). Arrays; K shifted multiply-adds."""
    B, T, C = x.shape
    K = w.shape[1]
    xp = np.concatenate([np.zeros((B, K - 1, C), x.dtype), x], axis=1)  # (B, T + K - 1, C)
    y = np.zeros_like(x) if bias is None else np.broadcast_to(bias, x.shape).copy()
    for k in range(K):
        y += w[:, k] * xp[:, k:k + T]  # tap k sees input t - K + 1 + k
    return y


def causal_conv1d_backward(x, w, gy, need_bias=True):
    """Gradients of causal_conv1d_forward: (gx (B, T, C), gw (C, K), gbias (C,) or None)."""
    B, T, C = x.shape
    K = w.shape[1]
    xp = np.concatenate([np.zeros((B, K - 1, C), x.dtype), x], axis=1)  # (B, T + K - 1, C)
    gyp = np.concatenate([gy, np.zeros((B, K - 1, C), gy.dtype)], axis=1)  # (B, T + K - 1, C)
    gx = np.zeros_like(x)
    gw = np.empty_like(w)
    for k in range(K):
        gx += w[:, k] * gyp[:, K - 1 - k:K - 1 - k + T]  # input s feeds output s + K - 1 - k
        gw[:, k] = np.einsum("btc,btc->c", gy, xp[:, k:k + T])
    gbias = gy.sum(axis=(0, 1)) if need_bias else None
    return gx, gw, gbias


class CausalConv1dFunction(Function):
    """The autograd op: forward(x, w, bias) with bias possibly None."""

    @staticmethod
    def forward(ctx, x, w, bias=None):
        if x.ndim != 3 or w.ndim != 2 or x.shape[2] != w.shape[0]:
            raise ValueError(f"causal_conv1d: expected x (B, T, C) and weight (C, K), got "
                             f"x {x.shape} and weight {w.shape}")
        if bias is not None and bias.shape != (w.shape[0],):
            raise ValueError(f"causal_conv1d: bias has shape {bias.shape}, expected "
                             f"({w.shape[0]},)")
        ctx.save_for_backward(x, w)
        ctx.has_bias = bias is not None
        return causal_conv1d_forward(x, w, bias)

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved
        return causal_conv1d_backward(x, w, gy, need_bias=ctx.has_bias)


def causal_conv1d(x, weight, bias=None):
    """Differentiable depthwise causal convolution: x (B, T, C), weight (C, K), bias (C,)."""
    return CausalConv1dFunction.apply(x, weight, bias)


class CausalConv1d(Module):
    """Depthwise causal convolution over time, one length-K filter per channel.

    Init (PyTorch's for a depthwise Conv1d, fan_in = K): weight and bias ~ U(-1/sqrt(K), 1/sqrt(K)).
    ``init_state(batch)`` / ``step(x_t, state)`` decode one token at a time and give the
    same outputs as ``forward`` on the whole sequence.
    """

    def __init__(self, channels, kernel_size, bias=True, dtype=np.float32, generator=None):
        super().__init__()
        if int(channels) < 1 or int(kernel_size) < 1:
            raise ValueError(f"CausalConv1d: channels ({channels}) and kernel_size "
                             f"({kernel_size}) must be positive integers")
        self.channels, self.kernel_size = int(channels), int(kernel_size)
        bound = 1 / math.sqrt(self.kernel_size)
        self.weight = Parameter(np.zeros((self.channels, self.kernel_size), dtype))  # (C, K)
        init.uniform_(self.weight, -bound, bound, generator)
        self.bias = None
        if bias:
            self.bias = Parameter(np.zeros(self.channels, dtype))
            init.uniform_(self.bias, -bound, bound, generator)

    def forward(self, x):
        if x.ndim != 3 or x.shape[2] != self.channels:
            raise ValueError(f"CausalConv1d: expected input (B, T, {self.channels}), got "
                             f"{tuple(x.shape)}")
        return causal_conv1d(x, self.weight, self.bias)

    # ----- recurrent form: the last K-1 inputs are the state ---------------------------
    def init_state(self, batch):
        """Zeros standing for the inputs before t = 0: an array (batch, K-1, C)."""
        return np.zeros((batch, self.kernel_size - 1, self.channels), self.weight.dtype)

    def step(self, x_t, state):
        """x_t (B, C) -> (y_t (B, C), the last K-1 inputs (B, K-1, C)). Differentiable in
        x_t, the weights and (when it is a tensor) the state."""
        window = cat([state, x_t.unsqueeze(1)], dim=1) if self.kernel_size > 1 \
            else x_t.unsqueeze(1)  # (B, K, C): inputs t-K+1 .. t
        y = (window * self.weight.T).sum(1)  # (B, C)
        if self.bias is not None:
            y = y + self.bias
        return y, window[:, 1:]

    def extra_repr(self):
        return f"{self.channels}, kernel_size={self.kernel_size}, bias={self.bias is not None}"
