"""Autograd op over the gated linear-attention scan (``minitx.kernels.gated_scan``).

``gated_scan(q, k, v, log_a)`` is one node of the graph: its forward is the Numba scan
(saving the state every ``CHUNK`` steps), its backward the hand-written reverse-time adjoint,
which recomputes the states between checkpoints. Paper: "Gated Linear Attention Transformers
with Hardware-Efficient Training" (Yang et al.), the recurrent form
S_t = diag(alpha_t) S_{t-1} + k_t^T v_t, o_t = q_t S_t. Cost: O(B H T Dk Dv) time,
O(B H T (Dk + Dv) + B H T/CHUNK Dk Dv) memory for what is saved.
"""

from __future__ import annotations

from ...autograd.function import Function
from ...kernels.gated_scan import gated_scan_backward, gated_scan_forward

__all__ = ["GatedScan", "gated_scan"]


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
