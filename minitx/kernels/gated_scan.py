"""The gated linear-attention scan, forward and reverse-time adjoint, as NumPy references and
their Numba twins. Papers: "Gated Linear Attention Transformers with Hardware-Efficient
Training" (Yang et al.), the recurrent form; with alpha = 1 it is the numerator of "Transformers
are RNNs" (Katharopoulos et al., eq. 2-9).

For every batch element and head, with a state S (Dk, Dv) and a gate alpha_t = exp(log_a_t):

    S_t = diag(alpha_t) S_{t-1} + k_t^T v_t        (S_0 = 0; alpha_t scales the rows of S)
    o_t = q_t S_t

Shapes (code -> paper): q, k, log_a (B, H, T, Dk) = q, k, log alpha;  v (B, H, T, Dv) = v;
o (B, H, T, Dv) = o;  S (Dk, Dv) = S.

Backward, a reverse-time adjoint. With G_t = dL/dS_t (everything that reaches S_t: from o_t,
and from S_{t+1} through its gate) and do_t = dL/do_t:

    G_t = q_t^T do_t + diag(alpha_{t+1}) G_{t+1}          (G_T = 0 beyond the end)
    dq_t = do_t S_t^T          dk_t = (G_t v_t^T)^T = v_t G_t^T          dv_t = k_t G_t
    dlog_a_t[i] = alpha_t[i] * sum_j S_{t-1}[i, j] G_t[i, j]     (one number per key row i)

Checkpoints: the forward saves the state entering every chunk of ``CHUNK`` steps,
``ckpt[b, h, c] = S_{c CHUNK - 1}`` (zero for c = 0); the backward recomputes each chunk's
states from its checkpoint, last chunk first, and sweeps it in reverse. Memory
O(B H T/CHUNK Dk Dv) instead of O(B H T Dk Dv).

Cost: O(B H T Dk Dv) time, forward and backward (the backward recomputes the forward once).
The compiled twins run one task per (batch element, head) under ``prange``; inside, time is
the outer loop, the key row i next and the value column j innermost, so the inner loops run
over contiguous rows of S, v and o. exp(log_a) is computed by NumPy before the loops, which
then do only multiply-adds.
"""

from __future__ import annotations

import numpy as np

from ._jit import njit, prange
from ._matrix_scan import CHUNK, FAST, check_inputs, n_chunks, run_backward, run_forward

__all__ = [
    "gated_scan_forward", "gated_scan_forward_ref",
    "gated_scan_backward", "gated_scan_backward_ref", "check_gated_inputs", "CHUNK",
]

def check_gated_inputs(q, k, v, log_a):
    """Clear errors for bad shapes or dtypes; returns (B, H, T, Dk, Dv)."""
    return check_inputs("gated scan", q, k, v, log_a, "log_a", q.shape,
                        "one log gate per key entry, q's shape")


# ----- references: the loops a learner reads -----------------------------------------------
def _step(S, alpha_t, k_t, v_t):
    """S (B, H, Dk, Dv) -> diag(alpha_t) S + k_t^T v_t, batched over (B, H)."""
    return alpha_t[..., :, None] * S + k_t[..., :, None] * v_t[..., None, :]


def gated_scan_forward_ref(q, k, v, log_a):
    """o_t = q_t S_t, S_t = diag(exp(log_a_t)) S_{t-1} + k_t^T v_t, one step at a time.
    Returns o (B, H, T, Dv) and the checkpoints (B, H, n_chunks, Dk, Dv)."""
    B, H, T, Dk, Dv = check_gated_inputs(q, k, v, log_a)
    alpha = np.exp(log_a)
    S = np.zeros((B, H, Dk, Dv), q.dtype)
    o = np.empty((B, H, T, Dv), q.dtype)
    ckpt = np.zeros((B, H, n_chunks(T), Dk, Dv), q.dtype)
    for t in range(T):
        if t % CHUNK == 0:
            ckpt[:, :, t // CHUNK] = S  # the state entering chunk t // CHUNK
        S = _step(S, alpha[:, :, t], k[:, :, t], v[:, :, t])
        o[:, :, t] = np.einsum("bhi,bhij->bhj", q[:, :, t], S)
    return o, ckpt


def gated_scan_backward_ref(q, k, v, log_a, grad_o, ckpt):
    """Gradients (dq, dk, dv, dlog_a) of sum(o * grad_o), by the reverse-time adjoint."""
    B, H, T, Dk, Dv = check_gated_inputs(q, k, v, log_a)
    alpha = np.exp(log_a)
    dq, dk, dlog_a = np.empty_like(q), np.empty_like(k), np.empty_like(log_a)
    dv = np.empty_like(v)
    G = np.zeros((B, H, Dk, Dv), q.dtype)  # dL/dS_t, gathered from the future
    for c in range(n_chunks(T) - 1, -1, -1):
        t0, t1 = c * CHUNK, min(T, (c + 1) * CHUNK)
        states = [ckpt[:, :, c]]  # states[i] = S_{t0 + i - 1}
        for t in range(t0, t1):
            states.append(_step(states[-1], alpha[:, :, t], k[:, :, t], v[:, :, t]))
        for t in range(t1 - 1, t0 - 1, -1):
            S_t, S_prev = states[t - t0 + 1], states[t - t0]
            G = G + q[:, :, t, :, None] * grad_o[:, :, t, None, :]  # + q_t^T do_t
            dq[:, :, t] = np.einsum("bhj,bhij->bhi", grad_o[:, :, t], S_t)
            dk[:, :, t] = np.einsum("bhij,bhj->bhi", G, v[:, :, t])
            dv[:, :, t] = np.einsum("bhi,bhij->bhj", k[:, :, t], G)
            dlog_a[:, :, t] = alpha[:, :, t] * (S_prev * G).sum(-1)
            G = alpha[:, :, t, :, None] * G  # hand on to S_{t-1}
    return dq, dk, dv, dlog_a


# ----- compiled twins -----------------------------------------------------------------------
@njit(**FAST)
def _forward(q, k, v, alpha, o, ckpt, chunk):
    B, H, T, Dk = q.shape
    Dv = v.shape[-1]
    for task in prange(B * H):
        b, h = task // H, task % H
        S = np.zeros((Dk, Dv), q.dtype)
        qs, ks, vs, als, os = q[b, h], k[b, h], v[b, h], alpha[b, h], o[b, h]
        for t in range(T):
            if t % chunk == 0:
                ckpt[b, h, t // chunk] = S
            v_t, o_t = vs[t], os[t]
            o_t[:] = 0
            for i in range(Dk):
                a, k_ti, q_ti, S_i = als[t, i], ks[t, i], qs[t, i], S[i]
                for j in range(Dv):
                    s = a * S_i[j] + k_ti * v_t[j]
                    S_i[j] = s
                    o_t[j] += q_ti * s


@njit(**FAST)
def _backward(q, k, v, alpha, go, ckpt, chunk, dq, dk, dv, dla):
    B, H, T, Dk = q.shape
    Dv = v.shape[-1]
    n_chunks = ckpt.shape[2]
    for task in prange(B * H):
        b, h = task // H, task % H
        qs, ks, vs, als, gos = q[b, h], k[b, h], v[b, h], alpha[b, h], go[b, h]
        G = np.zeros((Dk, Dv), q.dtype)
        states = np.empty((chunk + 1, Dk, Dv), q.dtype)  # states[i] = S_{t0 + i - 1}
        for c in range(n_chunks - 1, -1, -1):
            t0, t1 = c * chunk, min(T, (c + 1) * chunk)
            states[0] = ckpt[b, h, c]
            for t in range(t0, t1):  # recompute the chunk's states
                prev, cur = states[t - t0], states[t - t0 + 1]
                for i in range(Dk):
                    a, k_ti = als[t, i], ks[t, i]
                    for j in range(Dv):
                        cur[i, j] = a * prev[i, j] + k_ti * vs[t, j]
            for t in range(t1 - 1, t0 - 1, -1):  # and sweep it backwards
                S_t, S_prev = states[t - t0 + 1], states[t - t0]
                go_t, v_t, dv_t = gos[t], vs[t], dv[b, h, t]
                dv_t[:] = 0
                for i in range(Dk):
                    q_ti, k_ti, a = qs[t, i], ks[t, i], als[t, i]
                    G_i, St_i, Sp_i = G[i], S_t[i], S_prev[i]
                    acc_q, acc_k, acc_a = 0.0, 0.0, 0.0
                    for j in range(Dv):
                        g = G_i[j] + q_ti * go_t[j]  # G_t row i
                        acc_q += go_t[j] * St_i[j]
                        acc_k += g * v_t[j]
                        acc_a += g * Sp_i[j]
                        dv_t[j] += k_ti * g
                        G_i[j] = a * g  # hand on to S_{t-1}
                    dq[b, h, t, i] = acc_q
                    dk[b, h, t, i] = acc_k
                    dla[b, h, t, i] = a * acc_a


def _prepared(q, k, v, log_a):
    check_gated_inputs(q, k, v, log_a)
    q, k, v = (np.ascontiguousarray(x) for x in (q, k, v))
    return q, k, v, np.exp(log_a)  # exp in NumPy: the loops stay multiply-adds


def gated_scan_forward(q, k, v, log_a):
    """Numba twin of ``gated_scan_forward_ref``: (o, checkpoints)."""
    return run_forward(_forward, *_prepared(q, k, v, log_a))


def gated_scan_backward(q, k, v, log_a, grad_o, ckpt):
    """Numba twin of ``gated_scan_backward_ref``: (dq, dk, dv, dlog_a)."""
    return run_backward("gated scan", _backward, *_prepared(q, k, v, log_a), grad_o, ckpt)
