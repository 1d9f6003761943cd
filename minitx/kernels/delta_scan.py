"""The delta-rule scan (DeltaNet's recurrent form), forward and reverse-time adjoint, as NumPy
references and their Numba twins. Paper: "Parallelizing Linear Transformers with the Delta Rule
over Sequence Length" (Yang, Wang, Zhang, Shen & Kim), sec. 2, the recurrence

    r_t = v_t - k_t S_{t-1}        what the state gets wrong about key k_t     (Dv)
    u_t = beta_t r_t               the correction written                      (Dv)
    S_t = S_{t-1} + k_t^T u_t      (S_0 = 0; rows of S are indexed by the key dim)
    o_t = q_t S_t

Shapes (code -> paper): q, k (B, H, T, Dk) = q, k;  v (B, H, T, Dv) = v;
beta (B, H, T, 1) = beta;  o (B, H, T, Dv) = o;  S (Dk, Dv) = S (the paper's S^T).

Backward, a reverse-time adjoint. S_{t-1} is used twice at step t: carried into S_t, and read
by k_t to form r_t. With G_t = dL/dS_t (from o_t and from S_{t+1}) and do_t = dL/do_t:

    G_t   = q_t^T do_t + G'_{t+1}                (G'_{T+1} = 0)
    du_t  = k_t G_t                              (Dv)
    dp_t  = -beta_t du_t                         (the gradient of the prediction k_t S_{t-1})
    dq_t  = do_t S_t^T      dv_t = beta_t du_t      dbeta_t = du_t . r_t
    dk_t  = G_t u_t^T + S_{t-1} dp_t^T           (one number per key row i)
    G'_t  = G_t + k_t^T dp_t = (I - beta_t k_t^T k_t) G_t      handed on to S_{t-1}

Checkpoints: the forward saves the state entering every chunk of ``CHUNK`` steps,
``ckpt[b, h, c] = S_{c CHUNK - 1}`` (zero for c = 0); the backward recomputes each chunk's
states and residuals r_t from its checkpoint, last chunk first, then sweeps it in reverse.
Memory O(B H T/CHUNK Dk Dv) instead of O(B H T Dk Dv).

Cost: O(B H T Dk Dv) time, forward and backward (the backward recomputes the forward once).
The compiled twins run one task per (batch element, head) under ``prange``; inside, time is
the outer loop and the value column j innermost, over contiguous rows of S. Only
multiply-adds.
"""

from __future__ import annotations

import numpy as np

from ._jit import njit, prange
from ._matrix_scan import CHUNK, FAST, check_inputs, n_chunks, run_backward, run_forward

__all__ = [
    "delta_scan_forward", "delta_scan_forward_ref",
    "delta_scan_backward", "delta_scan_backward_ref", "check_delta_inputs", "CHUNK",
]

def check_delta_inputs(q, k, v, beta):
    """Clear errors for bad shapes or dtypes; returns (B, H, T, Dk, Dv)."""
    return check_inputs("delta scan", q, k, v, beta, "beta", q.shape[:3] + (1,),
                        "one writing strength per token and head")


# ----- references: the loops a learner reads -----------------------------------------------
def _step(S, k_t, v_t, b_t):
    """S (B, H, Dk, Dv) -> (S_t, r_t): one delta-rule write, batched over (B, H)."""
    r = v_t - np.einsum("bhi,bhij->bhj", k_t, S)  # v_t - k_t S_{t-1}   (B, H, Dv)
    return S + k_t[..., :, None] * (b_t * r)[..., None, :], r


def delta_scan_forward_ref(q, k, v, beta):
    """o_t = q_t S_t, S_t = S_{t-1} + beta_t k_t^T (v_t - k_t S_{t-1}), one step at a time.
    Returns o (B, H, T, Dv) and the checkpoints (B, H, n_chunks, Dk, Dv)."""
    B, H, T, Dk, Dv = check_delta_inputs(q, k, v, beta)
    S = np.zeros((B, H, Dk, Dv), q.dtype)
    o = np.empty((B, H, T, Dv), q.dtype)
    ckpt = np.zeros((B, H, n_chunks(T), Dk, Dv), q.dtype)
    for t in range(T):
        if t % CHUNK == 0:
            ckpt[:, :, t // CHUNK] = S  # the state entering chunk t // CHUNK
        S, _ = _step(S, k[:, :, t], v[:, :, t], beta[:, :, t])
        o[:, :, t] = np.einsum("bhi,bhij->bhj", q[:, :, t], S)
    return o, ckpt


def delta_scan_backward_ref(q, k, v, beta, grad_o, ckpt):
    """Gradients (dq, dk, dv, dbeta) of sum(o * grad_o), by the reverse-time adjoint."""
    B, H, T, Dk, Dv = check_delta_inputs(q, k, v, beta)
    dq, dk, dv, dbeta = (np.empty_like(x) for x in (q, k, v, beta))
    G = np.zeros((B, H, Dk, Dv), q.dtype)  # dL/dS_t, gathered from the future
    for c in range(n_chunks(T) - 1, -1, -1):
        t0, t1 = c * CHUNK, min(T, (c + 1) * CHUNK)
        states, res = [ckpt[:, :, c]], []  # states[i] = S_{t0 + i - 1}, res[i] = r_{t0 + i}
        for t in range(t0, t1):
            S, r = _step(states[-1], k[:, :, t], v[:, :, t], beta[:, :, t])
            states.append(S)
            res.append(r)
        for t in range(t1 - 1, t0 - 1, -1):
            S_t, S_prev, r = states[t - t0 + 1], states[t - t0], res[t - t0]
            k_t, b_t = k[:, :, t], beta[:, :, t]
            G = G + q[:, :, t, :, None] * grad_o[:, :, t, None, :]  # + q_t^T do_t
            du = np.einsum("bhi,bhij->bhj", k_t, G)  # (B, H, Dv)
            dp = -b_t * du
            dq[:, :, t] = np.einsum("bhj,bhij->bhi", grad_o[:, :, t], S_t)
            dv[:, :, t] = b_t * du
            dbeta[:, :, t] = (du * r).sum(-1, keepdims=True)
            dk[:, :, t] = (np.einsum("bhij,bhj->bhi", G, b_t * r)
                           + np.einsum("bhij,bhj->bhi", S_prev, dp))
            G = G + k_t[..., :, None] * dp[..., None, :]  # hand on to S_{t-1}
    return dq, dk, dv, dbeta


# ----- compiled twins -----------------------------------------------------------------------
@njit(**FAST)
def _forward(q, k, v, beta, o, ckpt, chunk):
    B, H, T, Dk = q.shape
    Dv = v.shape[-1]
    for task in prange(B * H):
        b, h = task // H, task % H
        S = np.zeros((Dk, Dv), q.dtype)
        u = np.empty(Dv, q.dtype)
        qs, ks, vs, bs, os = q[b, h], k[b, h], v[b, h], beta[b, h], o[b, h]
        for t in range(T):
            if t % chunk == 0:
                ckpt[b, h, t // chunk] = S
            u[:] = vs[t]
            for i in range(Dk):  # u = v_t - k_t S_{t-1}
                k_ti, S_i = ks[t, i], S[i]
                for j in range(Dv):
                    u[j] -= k_ti * S_i[j]
            u *= bs[t, 0]
            o_t = os[t]
            o_t[:] = 0
            for i in range(Dk):  # S += k_t^T u, o_t = q_t S_t
                k_ti, q_ti, S_i = ks[t, i], qs[t, i], S[i]
                for j in range(Dv):
                    s = S_i[j] + k_ti * u[j]
                    S_i[j] = s
                    o_t[j] += q_ti * s


@njit(**FAST)
def _backward(q, k, v, beta, go, ckpt, chunk, dq, dk, dv, dbeta):
    B, H, T, Dk = q.shape
    Dv = v.shape[-1]
    n_chunks = ckpt.shape[2]
    for task in prange(B * H):
        b, h = task // H, task % H
        qs, ks, vs, bs, gos = q[b, h], k[b, h], v[b, h], beta[b, h], go[b, h]
        G = np.zeros((Dk, Dv), q.dtype)
        du = np.empty(Dv, q.dtype)
        states = np.empty((chunk + 1, Dk, Dv), q.dtype)  # states[i] = S_{t0 + i - 1}
        res = np.empty((chunk, Dv), q.dtype)  # res[i] = r_{t0 + i}
        for c in range(n_chunks - 1, -1, -1):
            t0, t1 = c * chunk, min(T, (c + 1) * chunk)
            states[0] = ckpt[b, h, c]
            for t in range(t0, t1):  # recompute the chunk's states and residuals
                prev, cur, r = states[t - t0], states[t - t0 + 1], res[t - t0]
                r[:] = vs[t]
                for i in range(Dk):
                    k_ti = ks[t, i]
                    for j in range(Dv):
                        r[j] -= k_ti * prev[i, j]
                bt = bs[t, 0]
                for i in range(Dk):
                    k_ti = ks[t, i]
                    for j in range(Dv):
                        cur[i, j] = prev[i, j] + k_ti * bt * r[j]
            for t in range(t1 - 1, t0 - 1, -1):  # and sweep it backwards
                S_t, S_prev, r = states[t - t0 + 1], states[t - t0], res[t - t0]
                go_t, bt = gos[t], bs[t, 0]
                du[:] = 0
                for i in range(Dk):  # G_t = G + q_t^T do_t; du = k_t G_t; dq_t = do_t S_t^T
                    q_ti, k_ti, G_i, St_i = qs[t, i], ks[t, i], G[i], S_t[i]
                    acc_q = 0.0
                    for j in range(Dv):
                        g = G_i[j] + q_ti * go_t[j]
                        G_i[j] = g
                        acc_q += go_t[j] * St_i[j]
                        du[j] += k_ti * g
                    dq[b, h, t, i] = acc_q
                acc_b = 0.0
                for j in range(Dv):
                    acc_b += du[j] * r[j]
                    dv[b, h, t, j] = bt * du[j]
                dbeta[b, h, t, 0] = acc_b
                for i in range(Dk):  # dk_t = G_t u_t^T + S_{t-1} dp^T; G += k_t^T dp
                    k_ti, G_i, Sp_i = ks[t, i], G[i], S_prev[i]
                    acc_k = 0.0
                    for j in range(Dv):
                        dp = -bt * du[j]
                        acc_k += bt * G_i[j] * r[j] + Sp_i[j] * dp
                        G_i[j] += k_ti * dp
                    dk[b, h, t, i] = acc_k


def _prepared(q, k, v, beta):
    check_delta_inputs(q, k, v, beta)
    return tuple(np.ascontiguousarray(x) for x in (q, k, v, beta))


def delta_scan_forward(q, k, v, beta):
    """Numba twin of ``delta_scan_forward_ref``: (o, checkpoints)."""
    return run_forward(_forward, *_prepared(q, k, v, beta))


def delta_scan_backward(q, k, v, beta, grad_o, ckpt):
    """Numba twin of ``delta_scan_backward_ref``: (dq, dk, dv, dbeta)."""
    return run_backward("delta scan", _backward, *_prepared(q, k, v, beta), grad_o, ckpt)
