"""HiPPO-LegS matrices, their normal-plus-low-rank form, and the two discretisations.

Paper: "HiPPO: Recurrent Memory with Optimal Polynomial Projections" (Gu et al., 2020).

HiPPO keeps, at every time t, the N coefficients c(t) of the best polynomial
approximation of the input history f(s), s <= t, under a measure. For LegS (scaled
Legendre) the measure is uniform on the whole history [0, t], and the coefficients obey

    d/dt c(t) = -(1/t) A c(t) + (1/t) B f(t)

with  A[n, k] = sqrt(2n+1) sqrt(2k+1)  if n > k,   n + 1  if n == k,   0  if n < k,
      B[n]    = sqrt(2n+1).

``legs_matrices`` returns the stable state matrix ``-A`` and ``B`` (the sign S4 uses:
x' = A x + B u with A = -A_HiPPO). The history is read back from c(t) with the
orthonormal shifted Legendre basis: f(s) ~ sum_n c_n sqrt(2n+1) P_n(2 s / t - 1).

S4 ("Efficiently Modeling Long Sequences with Structured State Spaces") writes -A_HiPPO
as normal plus low rank: with P[n] = sqrt(n + 1/2),  S = -A_HiPPO + P P^T  is
-1/2 I plus a skew-symmetric matrix, so S = V diag(Lambda) V^* with V unitary and
Lambda = -1/2 + i omega; then -A_HiPPO = V (diag(Lambda) - (V^* P)(V^* P)^*) V^*.

Discretisations of x' = A x + B u with step dt (x_k = Abar x_{k-1} + Bbar u_k):
    zero-order hold   Abar = exp(dt A),  Bbar = A^{-1} (exp(dt A) - I) B
    bilinear          Abar = (I - dt/2 A)^{-1} (I + dt/2 A),  Bbar = (I - dt/2 A)^{-1} dt B
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from numpy.polynomial import legendre

__all__ = ["legs_matrices", "legs_nplr", "discretize_zoh", "discretize_bilinear",
           "legs_memory", "legendre_basis", "reconstruct"]


def _check_n(N, name="N"):
    if not isinstance(N, (int, np.integer)) or N < 1:
        raise ValueError(f"{name} must be a positive integer, got {N!r}")


def legs_matrices(N):
    """HiPPO-LegS (A, B) with the stable sign: A (N, N) = -A_HiPPO, B (N,)."""
    _check_n(N)
    q = np.sqrt(2.0 * np.arange(N) + 1.0)  # sqrt(2n+1)
    A = np.tril(np.outer(q, q), -1) + np.diag(np.arange(N) + 1.0)  # A_HiPPO
    return -A, q.copy()


def legs_nplr(N):
    """The normal-plus-low-rank form of LegS, in the eigenbasis of its normal part.

    Returns (Lambda (N,) complex, P (N,) complex, B (N,) complex, V (N, N) unitary) with
    legs_matrices(N)[0] == V (diag(Lambda) - P P^*) V^*  and  B_legs == V B."""
    A, B = legs_matrices(N)
    p = np.sqrt(np.arange(N) + 0.5)  # the rank-1 correction
    S = A + np.outer(p, p)  # -1/2 I + skew-symmetric
    skew = S + 0.5 * np.eye(N)
    omega, V = np.linalg.eigh(-1j * skew)  # skew = V diag(i omega) V^*  (-i skew is Hermitian)
    Lam = -0.5 + 1j * omega
    return Lam, V.conj().T @ p, V.conj().T @ B, V


def _check_dt(dt):
    if not np.all(np.asarray(dt) > 0):
        raise ValueError(f"step dt must be > 0, got {dt!r}")


def discretize_zoh(A, B, dt):
    """Zero-order hold: A (N, N), B (N,), dt > 0 -> (Abar (N, N), Bbar (N,)).

    Uses exp of the block matrix [[A, B], [0, 0]] * dt, whose top-right block is
    int_0^dt exp(s A) ds B, so A need not be invertible."""
    _check_dt(dt)
    N = A.shape[0]
    M = np.zeros((N + 1, N + 1), dtype=np.result_type(A, B, float))
    M[:N, :N], M[:N, N] = A, B
    E = scipy.linalg.expm(M * dt)
    return E[:N, :N], E[:N, N]


def discretize_bilinear(A, B, dt):
    """Bilinear (Tustin): A (N, N), B (N,), dt > 0 -> (Abar (N, N), Bbar (N,))."""
    _check_dt(dt)
    eye = np.eye(A.shape[0])
    back = eye - dt / 2 * A
    return np.linalg.solve(back, eye + dt / 2 * A), np.linalg.solve(back, dt * B)


def legs_memory(f, N):
    """Run the time-varying LegS memory over samples f (T,) of a signal on [0, 1].

    Sample k (k = 1..T) stands for the signal on ((k-1)/T, k/T]. In log time tau = log t
    the LegS equation is LTI, dc/dtau = A c + B f, so with f held constant on each
    interval the exact update is a zero-order hold of length log(k / (k-1)); the first
    sample starts c at its fixed point -A^{-1} B f_1 (the projection of a constant).
    Returns c (T, N): row k-1 holds the coefficients of the history up to sample k,
    rescaled to [0, 1]. Cost O(T N^3 log(N)) (one matrix exponential per step, batched)."""
    _check_n(N)
    f = np.asarray(f, dtype=float)
    A, B = legs_matrices(N)  # stable sign
    out = np.empty((len(f), N))
    if len(f) == 0:
        return out
    M = np.zeros((len(f) - 1, N + 1, N + 1))
    M[:, :N, :N], M[:, :N, N] = A, B
    E = _expm_batch(M * np.log(np.arange(2, len(f) + 1) / np.arange(1, len(f)))[:, None, None])
    c = -np.linalg.solve(A, B) * f[0]
    out[0] = c
    for k in range(2, len(f) + 1):  # step k: a ZOH of length log(k / (k-1)) in log time
        c = E[k - 2, :N, :N] @ c + E[k - 2, :N, N] * f[k - 1]
        out[k - 1] = c
    return out


def _expm_batch(M, terms=18):
    """exp of each matrix of a stack (S, n, n): scaling and squaring with a Taylor series
    (one batched matrix product per term; scipy's expm costs ~1 ms per call instead)."""
    norm = np.abs(M).sum(-2).max() if M.size else 0.0
    squarings = max(0, int(np.ceil(np.log2(max(norm, 1e-300)))) + 1)
    X = M / 2.0 ** squarings
    E = term = np.broadcast_to(np.eye(M.shape[-1]), M.shape).copy()
    for j in range(1, terms + 1):
        term = term @ X / j
        E = E + term
    for _ in range(squarings):
        E = E @ E
    return E


def legendre_basis(N, s):
    """Orthonormal shifted Legendre functions on [0, 1]: (len(s), N), column n is
    sqrt(2n+1) P_n(2 s - 1)."""
    s = np.asarray(s, dtype=float)
    cols = [np.sqrt(2 * n + 1) * legendre.legval(2 * s - 1, np.eye(N)[n]) for n in range(N)]
    return np.stack(cols, axis=1)


def reconstruct(c, s):
    """The history read back from LegS coefficients c (N,) at relative times s in [0, 1]
    (0 = start of the signal, 1 = now)."""
    return legendre_basis(len(c), s) @ c
