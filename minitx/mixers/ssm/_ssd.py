"""SSD, the state space dual layer of Mamba-2, three ways: a recurrence, a materialised
semiseparable matrix, and the chunked algorithm that mixes the two.

Paper: "Transformers are SSMs: Generalized Models and Efficient Algorithms Through Structured
State Space Duality" (Dao and Gu, 2024), sections 3-6.

Per head h the state matrix is a scalar times the identity, A_t = exp(dt_t a_h) I, so with a
state H_t (P x N) per head:

    H_t = exp(dt_t a_h) H_{t-1} + dt_t x_t B_t^T            x_t (P,), B_t, C_t (N,)
    y_t = H_t C_t

Unrolled, y = M x per head with the 1-semiseparable matrix (section 3.2)

    M[t, s] = (C_t . B_s) exp(a_h (dt_{s+1} + ... + dt_t)) dt_s      for s <= t, else 0

which is masked attention with Q = C, K = B, V = dt x and a decay mask L (section 4).
The chunked algorithm (section 6) cuts time into chunks of Q steps:
  1. inside a chunk, the quadratic form: (L o C B^T) (dt x)                   O(T Q N P)
  2. the state each chunk leaves behind, from its own inputs                 O(T N P)
  3. the states passed from chunk to chunk (a short scan over T / Q chunks)
  4. what the state entering a chunk adds to each of its outputs: C_t exp(...) H
so the cost is O(T Q (N + P)) time per head, linear in T, made of matrix products.

Glossary (code -> paper):
    x      (B, T, H, P)   X, the input of each head (P = head dim)
    dt     (B, T, H)      Delta > 0, the step
    A      (H,)           a, the scalar of A = a I (negative)
    B, C   (B, T, N)      B and C, shared by the heads (one group)
    seg    log-decays     a (dt_{s+1} + ... + dt_t), the entries of log L
    H      (B, H, P, N)   the state

``ssd_chunked`` works on tensors (differentiable); ``ssd_recurrent_ref`` and ``ssd_matrix``
are NumPy references a learner can read and the tests compare against.
"""

from __future__ import annotations

import numpy as np

from ...autograd.ops_linalg import einsum
from ...autograd.ops_shape import cat
from ...autograd.tensor import Tensor

__all__ = ["ssd_recurrent_ref", "ssd_matrix", "ssd_chunked"]


def ssd_recurrent_ref(x, dt, A, B, C, h0=None):
    """The recurrence, one step at a time (NumPy): x (B, T, H, P), dt (B, T, H), A (H,),
    B, C (B, T, N), h0 (B, H, P, N) or None -> y (B, T, H, P), final state (B, H, P, N)."""
    batch, T, H, P = x.shape
    h = np.zeros((batch, H, P, B.shape[-1]), x.dtype) if h0 is None else h0
    y = np.empty_like(x)
    for t in range(T):
        decay = np.exp(dt[:, t] * A)[:, :, None, None]  # (B, H, 1, 1)
        inp = (dt[:, t, :, None] * x[:, t])[..., None] * B[:, t, None, None, :]  # (B, H, P, N)
        h = decay * h + inp
        y[:, t] = np.einsum("bhpn,bn->bhp", h, C[:, t])  # H_t C_t
    return y, h


def ssd_matrix(dt, A, B, C):
    """The semiseparable matrix M (B, H, T, T) with y[:, :, h] = M[:, h] @ x[:, :, h]
    (NumPy, O(T^2) memory: for tiny inputs and pictures)."""
    cum = np.cumsum(dt * A, axis=1)  # (B, T, H): a (dt_1 + ... + dt_t)
    seg = cum[:, :, None, :] - cum[:, None, :, :]  # (B, T, T, H): a (dt_{s+1} + ... + dt_t)
    causal = np.tril(np.ones(seg.shape[1:3], bool))[None, :, :, None]
    decay = np.where(causal, np.exp(np.where(causal, seg, 0)), 0)
    CB = np.einsum("btn,bsn->bts", C, B)  # (B, T, T)
    M = CB[..., None] * decay * dt[:, None, :, :]  # (B, T, T, H)
    return M.transpose(0, 3, 1, 2)


def _decay_mask(log_a):
    """log_a (..., Q) -> L (..., Q, Q), L[i, j] = exp(log_a[j+1] + ... + log_a[i]) for j <= i,
    else 0 (the exponent is masked to -inf before exp, so no overflow and no NaN gradient)."""
    cum = log_a.cumsum(-1)
    diff = cum.unsqueeze(-1) - cum.unsqueeze(-2)  # (..., Q, Q)
    Q = log_a.shape[-1]
    upper = ~np.tril(np.ones((Q, Q), bool))
    return diff.masked_fill(upper, float("-inf")).exp()


def ssd_chunked(x, dt, A, B, C, chunk_size=64):
    """y (B, T, H, P) of the SSD layer by the chunked algorithm; tensors in, tensor out.
    x (B, T, H, P), dt (B, T, H), A (H,), B, C (B, T, N). Differentiable in all five."""
    batch, T, H, P = x.shape
    N = B.shape[-1]
    Q = max(1, min(int(chunk_size), T))
    pad = (-T) % Q
    if pad:  # zero steps at the end: dt = 0 adds nothing and leaves earlier outputs alone
        zeros = lambda t: Tensor._from_array(np.zeros((batch, pad) + t.shape[2:], t.dtype))
        x, dt, B, C = (cat([t, zeros(t)], dim=1) for t in (x, dt, B, C))
    nc = (T + pad) // Q
    x = x.reshape(batch, nc, Q, H, P)  # (B, c, Q, H, P)
    dt = dt.reshape(batch, nc, Q, H)
    B = B.reshape(batch, nc, Q, N)
    C = C.reshape(batch, nc, Q, N)
    log_a = (dt * A).permute(0, 1, 3, 2)  # (B, c, H, Q): a dt, the log-decay of each step
    cum = log_a.cumsum(-1)  # (B, c, H, Q)
    xdt = x * dt.unsqueeze(-1)  # (B, c, Q, H, P): dt_s x_s

    # 1. intra-chunk: y_i += sum_{j <= i} (C_i . B_j) L[i, j] dt_j x_j
    L = _decay_mask(log_a)  # (B, c, H, Q, Q)
    y_diag = einsum("bcin,bcjn,bchij,bcjhp->bcihp", C, B, L, xdt)

    # 2. the state each chunk builds from its own inputs, decayed to the chunk's end
    to_end = (cum[..., -1:] - cum).exp()  # (B, c, H, Q)
    states = einsum("bcjn,bchj,bcjhp->bchpn", B, to_end, xdt)  # (B, c, H, P, N)

    # 3. chunk-to-chunk: the state entering chunk z sums the states of chunks c < z,
    #    each decayed across the whole chunks c+1 .. z-1 (a (nc x nc) decay mask again)
    chunk_log_a = cum[..., -1].permute(0, 2, 1)  # (B, H, c): log-decay across each chunk
    shifted = cat([Tensor._from_array(np.zeros((batch, H, 1), x.dtype)), chunk_log_a],
                  dim=-1)  # (B, H, c + 1)
    E = _decay_mask(shifted)[..., :-1, 1:]  # (B, H, c, c): E[z, c] = full[z, c + 1], c < z
    entering = einsum("bhzc,bchpn->bzhpn", E, states)  # (B, c, H, P, N)

    # 4. what the entering state adds to each output of its chunk
    from_start = cum.exp()  # (B, c, H, Q): decay from the chunk's start to step i
    y_off = einsum("bzin,bzhpn,bzhi->bzihp", C, entering, from_start)

    y = (y_diag + y_off).reshape(batch, nc * Q, H, P)  # (B, T + pad, H, P)
    return y[:, :T] if pad else y
