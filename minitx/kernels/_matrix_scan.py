"""What the two matrix-state scans of linear attention share: the gated scan (GLA,
``gated_scan``) and the delta rule (DeltaNet, ``delta_scan``). Each keeps a state S (Dk, Dv)
per (batch element, head), reads it with q_t, and differs only in how S is written, so the
input checks, the checkpoint layout and the calls of a compiled forward / backward pair are
written once, here.

Inputs: q, k (B, H, T, Dk), v (B, H, T, Dv) and one per-token "write control" array
(the gate log_a, or beta). Checkpoints: ``ckpt[b, h, c]`` is the state entering chunk c of
``CHUNK`` steps (zero for c = 0).
"""

from __future__ import annotations

import numpy as np

CHUNK = 64  # steps between two saved states
FAST = dict(parallel=True, fastmath={"reassoc", "contract"})  # the compiled twins' options


def check_inputs(scan: str, q, k, v, control, control_name: str, control_shape: tuple,
                 control_doc: str):
    """Clear errors for bad shapes or dtypes; returns (B, H, T, Dk, Dv). ``control_shape`` is
    the shape the write control must have, ``control_doc`` says what it is."""
    for name, a in (("q", q), ("k", k), ("v", v), (control_name, control)):
        if not isinstance(a, np.ndarray) or a.ndim != 4:
            raise ValueError(f"{scan}: {name} must be a 4-d array (B, H, T, D), got "
                             f"{getattr(a, 'shape', type(a).__name__)}")
        if a.dtype not in (np.float32, np.float64) or a.dtype != q.dtype:
            raise ValueError(f"{scan}: {name} has dtype {a.dtype}; accepted: float32 or "
                             f"float64, the same for q, k, v, {control_name} (q is {q.dtype})")
    if k.shape != q.shape:
        raise ValueError(f"{scan}: k {k.shape} must have q's shape {q.shape}")
    if v.shape[:3] != q.shape[:3]:
        raise ValueError(f"{scan}: v {v.shape} must share (B, H, T) = {q.shape[:3]} with q")
    if control.shape != control_shape:
        raise ValueError(f"{scan}: {control_name} has shape {control.shape}; accepted: "
                         f"{control_shape} ({control_doc})")
    return (*q.shape, v.shape[-1])


def n_chunks(T: int) -> int:
    return max(1, -(-T // CHUNK))


def empty_state_outputs(q, v):
    """o (B, H, T, Dv) uninitialised and the checkpoints (B, H, n_chunks, Dk, Dv) zeroed."""
    B, H, T, Dk = q.shape
    return (np.empty((B, H, T, v.shape[-1]), q.dtype),
            np.zeros((B, H, n_chunks(T), Dk, v.shape[-1]), q.dtype))


def run_forward(body, q, k, v, control):
    """Call a compiled forward ``body(q, k, v, control, o, ckpt, CHUNK)``: (o, ckpt)."""
    o, ckpt = empty_state_outputs(q, v)
    body(q, k, v, control, o, ckpt, CHUNK)
    return o, ckpt


def run_backward(scan: str, body, q, k, v, control, grad_o, ckpt):
    """Call a compiled backward ``body(q, k, v, control, go, ckpt, CHUNK, dq, dk, dv,
    dcontrol)``: (dq, dk, dv, dcontrol)."""
    if grad_o.shape != q.shape[:3] + (v.shape[-1],):
        raise ValueError(f"{scan}: grad_o has shape {grad_o.shape}, expected "
                         f"{q.shape[:3] + (v.shape[-1],)}")
    go = np.ascontiguousarray(grad_o, dtype=q.dtype)
    ckpt = np.ascontiguousarray(ckpt, dtype=q.dtype)
    grads = tuple(np.empty_like(x) for x in (q, k, v, control))
    body(q, k, v, control, go, ckpt, CHUNK, *grads)
    return grads
