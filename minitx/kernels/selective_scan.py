"""The selective scan of Mamba ("Mamba: Linear-Time Sequence Modeling with Selective State
Spaces", section 3): a diagonal SSM whose step size and input/output maps change with t.

For every batch element b and channel d there is a state h of N numbers and

    h_t = exp(delta_t A) * h_{t-1} + delta_t B_t x_t        (elementwise over the N states)
    y_t = C_t . h_t + D x_t

which is the paper's discretisation: zero-order hold for A, A_bar = exp(delta A), and the
simplified (Euler) B_bar = delta B instead of ZOH's (delta A)^-1 (exp(delta A) - I) delta B,
as in the paper's reference code. delta_t, x_t, y_t are per channel; B_t, C_t (N numbers) are
shared by all channels of a token; A (D_inner, N) and D (D_inner,) are fixed parameters.

Shapes (code -> paper): x, delta (B, L, D_inner) = x, Delta;  A (D_inner, N) = A;
B, C (B, L, N) = B, C;  D (D_inner,) = D;  y (B, L, D_inner) = y.

Backward, a reverse-time adjoint scan. With a_t = exp(delta_t A) and g_t = dL/dh_t (everything
that reaches h_t, from y_t and through h_{t+1}):

    g_t = gy_t C_t + a_{t+1} * g_{t+1}                      (g_L = 0)
    dC_t  = sum_d gy_t h_t               dB_t = sum_d g_t delta_t x_t
    dx_t  = D gy_t + delta_t (g_t . B_t)
    ddelta_t = (g_t * h_{t-1} * a_t) . A + x_t (g_t . B_t)
    dA    = sum_{b, t} g_t * h_{t-1} * a_t * delta_t         dD = sum_{b, t} gy_t x_t

Cost: O(B L D_inner N) time for both; the references store every state (O(B L D_inner N)
memory), the compiled twins keep the state of a block of channels in a small local array.

The compiled twins: the parallel tasks are (batch element, block of channels), as in
recurrence.py. Time runs in the outer loop, then the N states, and the channels of the block
in the inner loop: x, delta, y are contiguous over channels, so the inner loop is SIMD with no
sum across lanes (y_t collects C_t[n] h_t[n] one state n at a time), and the block's states
(N x width) stay in cache. exp(delta A) is most of the work: it runs inside the loop through
``_scan_math.exp_lite``, a short polynomial exp that vectorises (a NumPy pass computing
exp(delta A) first would write and read back an array as large as all the states; measured
3x slower). ``fastmath`` is limited to reassociation (the sums over channels in the backward
vectorise) and fused multiply-add. The backward recomputes the states instead of storing
them: a first pass keeps the state entering every chunk of ``CHUNK`` steps, then each
chunk, last to first, is recomputed and swept in reverse. Gradients of the shared B_t, C_t
(and of A, D) are summed per task and added up at the end.
"""

from __future__ import annotations

import numpy as np

from ._jit import njit, prange
from ._scan_math import exp_lite

MIN_TASKS = 4  # split channels into blocks while B gives fewer parallel tasks than this
MAX_WIDTH = 256  # channels per block at most (the block's states stay in L1/L2 cache)
CHUNK = 32  # backward: steps recomputed at a time between two saved states

__all__ = [
    "selective_scan_forward", "selective_scan_forward_ref",
    "selective_scan_backward", "selective_scan_backward_ref",
    "selective_scan_states_ref", "check_scan_inputs",
]

_FAST = dict(parallel=True, fastmath={"reassoc", "contract"})


# ----- references: the loops a learner reads -----------------------------------------------
def selective_scan_states_ref(x, delta, A, B):
    """Every state h_t: x, delta (B, L, Di), A (Di, N), B (B, L, N) -> h (B, L, Di, N)."""
    batch, L, Di = x.shape
    h = np.zeros((batch, Di, A.shape[1]), x.dtype)
    states = np.empty((batch, L, Di, A.shape[1]), x.dtype)
    for t in range(L):
        dA = np.exp(delta[:, t, :, None] * A)  # A_bar_t (B, Di, N): ZOH
        dBx = (delta[:, t] * x[:, t])[:, :, None] * B[:, t, None, :]  # B_bar_t x_t: Euler
        h = dA * h + dBx
        states[:, t] = h
    return states


def selective_scan_forward_ref(x, delta, A, B, C, D):
    """y_t = C_t . h_t + D x_t with h_t = exp(delta_t A) h_{t-1} + delta_t B_t x_t.
    x, delta (B, L, Di), A (Di, N), B, C (B, L, N), D (Di,) -> y (B, L, Di)."""
    h = selective_scan_states_ref(x, delta, A, B)  # (B, L, Di, N)
    return np.einsum("bldn,bln->bld", h, C) + D * x


def selective_scan_backward_ref(x, delta, A, B, C, D, gy):
    """Gradients (gx, gdelta, gA, gB, gC, gD) of sum(y * gy), by the reverse-time scan."""
    batch, L, Di = x.shape
    states = selective_scan_states_ref(x, delta, A, B)  # (B, L, Di, N)
    gx, gdelta = np.empty_like(x), np.empty_like(delta)
    gB, gC, gA = np.empty_like(B), np.empty_like(C), np.zeros_like(A)
    g = np.zeros_like(states[:, 0])  # a_{t+1} * g_{t+1}, what flows into h_t from h_{t+1}
    for t in range(L - 1, -1, -1):
        a = np.exp(delta[:, t, :, None] * A)  # a_t (B, Di, N)
        g = g + gy[:, t, :, None] * C[:, t, None, :]  # g_t = dL/dh_t
        h_prev = states[:, t - 1] if t > 0 else np.zeros_like(g)
        gC[:, t] = np.einsum("bd,bdn->bn", gy[:, t], states[:, t])
        g_dot_B = np.einsum("bdn,bn->bd", g, B[:, t])  # (B, Di)
        ga = g * h_prev * a  # dL/d(delta_t A), (B, Di, N)
        gdelta[:, t] = (ga * A).sum(-1) + x[:, t] * g_dot_B
        gA += np.einsum("bdn,bd->dn", ga, delta[:, t])
        gB[:, t] = np.einsum("bdn,bd->bn", g, delta[:, t] * x[:, t])
        gx[:, t] = D * gy[:, t] + delta[:, t] * g_dot_B
        g = a * g  # hand on to h_{t-1}
    gD = np.einsum("bld,bld->d", gy, x)
    return gx, gdelta, gA, gB, gC, gD


# ----- compiled twins -----------------------------------------------------------------------
@njit
def _blocks(batch, Di):
    """Channel blocks per batch element and their width: wide blocks (long SIMD loops), but
    at least MIN_TASKS tasks in all while blocks stay >= 32 channels, and <= MAX_WIDTH."""
    n_blocks = min((MIN_TASKS + batch - 1) // batch, (Di + 31) // 32)
    n_blocks = max(1, n_blocks, (Di + MAX_WIDTH - 1) // MAX_WIDTH)
    width = (Di + n_blocks - 1) // n_blocks
    return (Di + width - 1) // width, width


@njit(**_FAST)
def _forward(x, delta, AT, B, C, D):
    batch, L, Di = x.shape
    N = AT.shape[0]
    y = np.empty_like(x)
    n_blocks, width = _blocks(batch, Di)
    for task in prange(batch * n_blocks):
        b = task // n_blocks
        lo = (task % n_blocks) * width
        hi = min(Di, lo + width)
        W = hi - lo
        h = np.zeros((N, W), x.dtype)  # the states of this block's channels, state-major
        dx = np.empty(W, x.dtype)
        for t in range(L):
            d_t, x_t, y_t, D_b = delta[b, t, lo:hi], x[b, t, lo:hi], y[b, t, lo:hi], D[lo:hi]
            for j in range(W):
                dx[j] = d_t[j] * x_t[j]
                y_t[j] = D_b[j] * x_t[j]  # y_t starts as D x_t and collects C_t . h_t
            for n in range(N):
                B_tn, C_tn, h_n, A_n = B[b, t, n], C[b, t, n], h[n], AT[n, lo:hi]
                for j in range(W):
                    hv = exp_lite(d_t[j] * A_n[j]) * h_n[j] + dx[j] * B_tn
                    h_n[j] = hv
                    y_t[j] += hv * C_tn
    return y


@njit
def _run_chunk(x, delta, AT, B, b, lo, hi, t0, t1, h0, hs, a_s):
    """Recompute steps t0..t1-1 of one block from the state h0 before t0:
    hs[i + 1] = h_{t0 + i} (hs[0] = h0), a_s[i] = exp(delta A) at t0 + i; all (N, W)."""
    N = AT.shape[0]
    hs[0] = h0
    for i in range(t1 - t0):
        t = t0 + i
        d_t, x_t = delta[b, t, lo:hi], x[b, t, lo:hi]
        for n in range(N):
            B_tn, A_n = B[b, t, n], AT[n, lo:hi]
            prev, cur, a_n = hs[i, n], hs[i + 1, n], a_s[i, n]
            for j in range(hi - lo):
                a = exp_lite(d_t[j] * A_n[j])
                a_n[j] = a
                cur[j] = a * prev[j] + d_t[j] * x_t[j] * B_tn


@njit(**_FAST)
def _backward(x, delta, AT, B, C, D, gy):
    batch, L, Di = x.shape
    N = AT.shape[0]
    n_blocks, width = _blocks(batch, Di)
    n_chunks = (L + CHUNK - 1) // CHUNK
    gx, gdelta = np.empty_like(x), np.empty_like(delta)
    gB_part = np.zeros((n_blocks, batch, L, N), x.dtype)  # per block, summed at the end
    gC_part = np.zeros((n_blocks, batch, L, N), x.dtype)
    gA_part = np.zeros((batch, N, Di), x.dtype)  # per batch element, summed at the end
    gD_part = np.zeros((batch, Di), x.dtype)
    for task in prange(batch * n_blocks):
        b, blk = task // n_blocks, task % n_blocks
        lo = blk * width
        hi = min(Di, lo + width)
        W = hi - lo
        # pass 1: the state entering every chunk
        saved = np.zeros((n_chunks, N, W), x.dtype)
        hs = np.zeros((CHUNK + 1, N, W), x.dtype)
        a_s = np.empty((CHUNK, N, W), x.dtype)
        for c in range(n_chunks - 1):
            t0 = c * CHUNK
            _run_chunk(x, delta, AT, B, b, lo, hi, t0, t0 + CHUNK, saved[c], hs, a_s)
            saved[c + 1] = hs[CHUNK]
        # pass 2: chunks last to first, each recomputed, then swept backwards in time
        g = np.zeros((N, W), x.dtype)  # a_{t+1} * g_{t+1}, then g_t while at step t
        g_dot_B = np.empty(W, x.dtype)  # g_t . B_t per channel
        ga_dot_A = np.empty(W, x.dtype)  # (g_t * h_{t-1} * a_t) . A per channel
        dx = np.empty(W, x.dtype)
        gD_b = gD_part[b, lo:hi]
        for c in range(n_chunks - 1, -1, -1):
            t0 = c * CHUNK
            t1 = min(L, t0 + CHUNK)
            _run_chunk(x, delta, AT, B, b, lo, hi, t0, t1, saved[c], hs, a_s)
            for i in range(t1 - t0 - 1, -1, -1):
                t = t0 + i
                d_t, x_t, gy_t = delta[b, t, lo:hi], x[b, t, lo:hi], gy[b, t, lo:hi]
                for j in range(W):
                    dx[j] = d_t[j] * x_t[j]
                    g_dot_B[j] = 0
                    ga_dot_A[j] = 0
                    gD_b[j] += gy_t[j] * x_t[j]
                for n in range(N):
                    B_tn, C_tn = B[b, t, n], C[b, t, n]
                    g_n, A_n, gA_n = g[n], AT[n, lo:hi], gA_part[b, n, lo:hi]
                    h_prev, h_cur, a_n = hs[i, n], hs[i + 1, n], a_s[i, n]
                    sum_C = x.dtype.type(0)
                    sum_B = x.dtype.type(0)
                    for j in range(W):
                        gv = g_n[j] + gy_t[j] * C_tn  # g_t
                        sum_C += gy_t[j] * h_cur[j]
                        ga = gv * h_prev[j] * a_n[j]
                        ga_dot_A[j] += ga * A_n[j]
                        gA_n[j] += ga * d_t[j]
                        g_dot_B[j] += gv * B_tn
                        sum_B += gv * dx[j]
                        g_n[j] = a_n[j] * gv  # hand on to h_{t-1}
                    gC_part[blk, b, t, n] = sum_C
                    gB_part[blk, b, t, n] = sum_B
                for j in range(W):
                    gdelta[b, t, lo + j] = ga_dot_A[j] + x_t[j] * g_dot_B[j]
                    gx[b, t, lo + j] = D[lo + j] * gy_t[j] + d_t[j] * g_dot_B[j]
    gA = gA_part.sum(0).T.copy()  # (Di, N)
    return gx, gdelta, gA, gB_part.sum(0), gC_part.sum(0), gD_part.sum(0)


# ----- public -------------------------------------------------------------------------------
def check_scan_inputs(x, delta, A, B, C, D, name="selective_scan"):
    """Raise ValueError naming the array and shapes when the inputs do not fit together."""
    if x.ndim != 3:
        raise ValueError(f"{name}: x must be (B, L, D_inner), got shape {x.shape}")
    batch, L, Di = x.shape
    if A.ndim != 2 or A.shape[0] != Di:
        raise ValueError(f"{name}: A must be (D_inner={Di}, N), got shape {A.shape}")
    N = A.shape[1]
    want = {"delta": (x.shape, delta.shape), "B": ((batch, L, N), B.shape),
            "C": ((batch, L, N), C.shape), "D": ((Di,), D.shape)}
    for label, (expected, got) in want.items():
        if tuple(got) != tuple(expected):
            raise ValueError(f"{name}: {label} must have shape {expected}, got {tuple(got)}")
    dtypes = {a.dtype for a in (x, delta, A, B, C, D)}
    if len(dtypes) != 1 or x.dtype not in (np.float32, np.float64):
        raise ValueError(f"{name}: all inputs must share one dtype, float32 or float64; got "
                         f"{sorted(str(d) for d in dtypes)}")


def selective_scan_forward(x, delta, A, B, C, D):
    """Compiled twin of ``selective_scan_forward_ref``: same arguments, same y."""
    check_scan_inputs(x, delta, A, B, C, D)
    x, delta, B, C, D = (np.ascontiguousarray(a) for a in (x, delta, B, C, D))
    return _forward(x, delta, np.ascontiguousarray(A.T), B, C, D)  # A as (N, Di)


def selective_scan_backward(x, delta, A, B, C, D, gy):
    """Compiled twin of ``selective_scan_backward_ref``: (gx, gdelta, gA, gB, gC, gD)."""
    check_scan_inputs(x, delta, A, B, C, D)
    x, delta, B, C, D = (np.ascontiguousarray(a) for a in (x, delta, B, C, D))
    gy = np.ascontiguousarray(gy, dtype=x.dtype)
    return _backward(x, delta, np.ascontiguousarray(A.T), B, C, D, gy)  # A as (N, Di)
