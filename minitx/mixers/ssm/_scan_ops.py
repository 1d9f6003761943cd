"""Autograd ops over the selective-scan kernels (``minitx.kernels.selective_scan``).

``selective_scan(x, delta, A, B, C, D)`` is one node of the graph: its forward is the fused
Numba scan (no state saved), its backward the hand-written reverse-time adjoint scan, which
recomputes the states. Paper: "Mamba: Linear-Time Sequence Modeling with Selective State
Spaces" (Algorithm 2, the selective SSM). Cost: O(B L D_inner N) time, O(B L (D_inner + N))
memory for what is saved (the inputs only).
"""

from __future__ import annotations

import numpy as np

from ...autograd.function import Function
from ...kernels.selective_scan import (
    check_scan_inputs,
    selective_scan_backward,
    selective_scan_forward,
)

__all__ = ["SelectiveScan", "selective_scan"]


class SelectiveScan(Function):
    """y = selective scan of (x, delta, A, B, C, D); D may be None (no skip term)."""

    @staticmethod
    def forward(ctx, x, delta, A, B, C, D=None):
        ctx.has_D = D is not None
        D = np.zeros(x.shape[-1], x.dtype) if D is None else D
        check_scan_inputs(x, delta, A, B, C, D)
        ctx.save_for_backward(x, delta, A, B, C, D)
        return selective_scan_forward(x, delta, A, B, C, D)

    @staticmethod
    def backward(ctx, gy):
        gx, gdelta, gA, gB, gC, gD = selective_scan_backward(*ctx.saved, gy)
        return gx, gdelta, gA, gB, gC, (gD if ctx.has_D else None)


def selective_scan(x, delta, A, B, C, D=None):
    """Differentiable selective scan on tensors: x, delta (B, L, D_inner), A (D_inner, N),
    B, C (B, L, N), D (D_inner,) or None -> y (B, L, D_inner), with
    h_t = exp(delta_t A) * h_{t-1} + delta_t B_t x_t and y_t = C_t . h_t + D x_t."""
    return SelectiveScan.apply(x, delta, A, B, C, D)
