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


class MatrixScan(Function):
    """One graph node over a checkpointed matrix-state scan: the forward runs the compiled
    scan and keeps its checkpoints, the backward the compiled reverse-time adjoint.
    Subclasses name their pair of array kernels in ``kernels``."""

    kernels = ()  # (forward(q, k, v, c) -> (o, ckpt), backward(q, k, v, c, grad_o, ckpt))

    @classmethod
    def forward(cls, ctx, q, k, v, control):
        o, ckpt = cls.kernels[0](q, k, v, control)
        ctx.save_for_backward(q, k, v, control, ckpt)
        return o

    @classmethod
    def backward(cls, ctx, grad_o):
        *inputs, ckpt = ctx.saved
        return cls.kernels[1](*inputs, grad_o, ckpt)


class GatedScan(MatrixScan):
    """o = gated scan of (q, k, v, log_a), all (B, H, T, D); log_a may be a plain array."""

    kernels = (gated_scan_forward, gated_scan_backward)


def gated_scan(q, k, v, log_a):
    """Differentiable gated scan on tensors: q, k, log_a (B, H, T, Dk), v (B, H, T, Dv) ->
    o (B, H, T, Dv), o_t = q_t S_t with S_t = diag(exp(log_a_t)) S_{t-1} + k_t^T v_t."""
    return GatedScan.apply(q, k, v, log_a)


class DeltaScan(MatrixScan):
    """o = delta-rule scan of q, k (B, H, T, Dk), v (B, H, T, Dv), beta (B, H, T, 1). Paper:
    "Parallelizing Linear Transformers with the Delta Rule over Sequence Length" (Yang et al.),
    S_t = S_{t-1} + beta_t k_t^T (v_t - k_t S_{t-1}), o_t = q_t S_t. Cost O(B H T Dk Dv)."""

    kernels = (delta_scan_forward, delta_scan_backward)


def delta_scan(q, k, v, beta):
    """Differentiable delta-rule scan on tensors -> o (B, H, T, Dv); see ``DeltaScan``."""
    return DeltaScan.apply(q, k, v, beta)
