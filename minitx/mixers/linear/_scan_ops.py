"""Autograd ops over the linear-attention scans: the gated scan (``minitx.kernels.gated_scan``)
and the delta-rule scan (``minitx.kernels.delta_scan``, DeltaNet's recurrence).

``gated_scan(q, k, v, log_a)`` is one node of the graph: its forward is the Numba scan
(saving the state every ``CHUNK`` steps), its backward the hand-written reverse-time adjoint,
which recomputes the states between checkpoints. Paper: "Gated Linear Attention Transformers
with Hardware-Efficient Training" (Yang et al.), the recurrent form
S_t = diag(alpha_t) S_{t-1} + k_t^T v_t, o_t = q_t S_t. Cost: O(B H T Dk Dv) time,
O(B H T (Dk + Dv) + B H T/CHUNK Dk Dv) memory for what is saved.
"""

from __future__ import annotations

from ...autograd.function import Function
from ...kernels.delta_scan import delta_scan_backward, delta_scan_forward
from ...kernels.gated_scan import gated_scan_backward, gated_scan_forward

__all__ = ["GatedScan", "gated_scan", "DeltaScan", "delta_scan"]


class GatedScan(Function):
    """o = gated scan of (q, k, v, log_a), all (B, H, T, D); log_a may be a plain array."""

    @staticmethod
    def forward(ctx, q, k, v, log_a):
        o, ckpt = gated_scan_forward(q, k, v, log_a)
        ctx.save_for_backward(q, k, v, log_a, ckpt)
        return o

    @staticmethod
    def backward(ctx, grad_o):
        q, k, v, log_a, ckpt = ctx.saved
        return gated_scan_backward(q, k, v, log_a, grad_o, ckpt)


def gated_scan(q, k, v, log_a):
    """Differentiable gated scan on tensors: q, k, log_a (B, H, T, Dk), v (B, H, T, Dv) ->
    o (B, H, T, Dv), o_t = q_t S_t with S_t = diag(exp(log_a_t)) S_{t-1} + k_t^T v_t."""
    return GatedScan.apply(q, k, v, log_a)


# ----- the delta rule (DeltaNet) ------------------------------------------------------------


class DeltaScan(Function):
    """o = delta-rule scan of q, k (B, H, T, Dk), v (B, H, T, Dv), beta (B, H, T, 1). Paper:
    "Parallelizing Linear Transformers with the Delta Rule over Sequence Length" (Yang et al.),
    S_t = S_{t-1} + beta_t k_t^T (v_t - k_t S_{t-1}), o_t = q_t S_t. Cost O(B H T Dk Dv)."""

    @staticmethod
    def forward(ctx, q, k, v, beta):
        o, ckpt = delta_scan_forward(q, k, v, beta)
        ctx.save_for_backward(q, k, v, beta, ckpt)
        return o

    @staticmethod
    def backward(ctx, grad_o):
        q, k, v, beta, ckpt = ctx.saved
        return delta_scan_backward(q, k, v, beta, grad_o, ckpt)


def delta_scan(q, k, v, beta):
    """Differentiable delta-rule scan on tensors -> o (B, H, T, Dv); see ``DeltaScan``."""
    return DeltaScan.apply(q, k, v, beta)
