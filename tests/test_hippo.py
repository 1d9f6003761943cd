"""HiPPO-LegS: the matrices against the paper's formula written entry by entry, the
normal-plus-low-rank form S4 relies on, both discretisations against their definitions,
and the LegS memory reconstructing a signal's history better as N grows."""

import numpy as np
import pytest
import scipy.linalg

from minitx.mixers.ssm import _hippo as hippo


def legs_by_entries(N):
    """A_HiPPO[n, k] = sqrt(2n+1) sqrt(2k+1) (n > k), n + 1 (n == k), 0 (n < k); B = sqrt(2n+1)."""
    A = np.zeros((N, N))
    for n in range(N):
        for k in range(N):
            if n > k:
                A[n, k] = np.sqrt(2 * n + 1) * np.sqrt(2 * k + 1)
            elif n == k:
                A[n, k] = n + 1
    return -A, np.array([np.sqrt(2 * n + 1) for n in range(N)])


@pytest.mark.parametrize("N", [1, 2, 5, 8])
def test_legs_matrices_match_the_formula(N):
    A, B = hippo.legs_matrices(N)
    A_ref, B_ref = legs_by_entries(N)
    np.testing.assert_allclose(A, A_ref)
    np.testing.assert_allclose(B, B_ref)


@pytest.mark.parametrize("N", [4, 7, 16])
def test_legs_nplr_rebuilds_the_matrix(N):
    lam, p, b, V = hippo.legs_nplr(N)
    A, B = hippo.legs_matrices(N)
    np.testing.assert_allclose(V @ V.conj().T, np.eye(N), atol=1e-12)  # unitary
    np.testing.assert_allclose(V @ (np.diag(lam) - np.outer(p, p.conj())) @ V.conj().T, A,
                               atol=1e-10)
    np.testing.assert_allclose(V @ b, B, atol=1e-10)
    np.testing.assert_allclose(lam.real, -0.5, atol=1e-12)  # normal part: -1/2 + skew


def test_zoh_and_bilinear_match_their_definitions():
    A, B = hippo.legs_matrices(6)
    dt = 0.07
    Abar, Bbar = hippo.discretize_zoh(A, B, dt)
    E = scipy.linalg.expm(dt * A)
    np.testing.assert_allclose(Abar, E, atol=1e-12)
    np.testing.assert_allclose(Bbar, np.linalg.solve(A, (E - np.eye(6)) @ B), atol=1e-12)
    Abar2, Bbar2 = hippo.discretize_bilinear(A, B, dt)
    inv = np.linalg.inv(np.eye(6) - dt / 2 * A)
    np.testing.assert_allclose(Abar2, inv @ (np.eye(6) + dt / 2 * A), atol=1e-12)
    np.testing.assert_allclose(Bbar2, inv @ (dt * B), atol=1e-12)


def test_bilinear_agrees_with_zoh_to_third_order():
    A, B = hippo.legs_matrices(4)
    gaps = [np.abs(hippo.discretize_zoh(A, B, dt)[0] - hippo.discretize_bilinear(A, B, dt)[0])
            .max() for dt in (1e-2, 5e-3)]
    assert 6 < gaps[0] / gaps[1] < 10  # halving dt divides an O(dt^3) gap by ~8


def test_zoh_handles_a_singular_a():
    A = np.array([[0.0, 1.0], [0.0, 0.0]])  # double integrator
    Abar, Bbar = hippo.discretize_zoh(A, np.array([0.0, 1.0]), 0.5)
    np.testing.assert_allclose(Abar, [[1, 0.5], [0, 1]])
    np.testing.assert_allclose(Bbar, [0.125, 0.5])  # int_0^dt exp(sA) B ds


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="N must be a positive integer, got 0"):
        hippo.legs_matrices(0)
    with pytest.raises(ValueError, match="dt must be > 0"):
        hippo.discretize_bilinear(*hippo.legs_matrices(3), -0.1)


def test_legendre_basis_is_orthonormal_on_unit_interval():
    s, w = np.polynomial.legendre.leggauss(40)
    phi = hippo.legendre_basis(6, (s + 1) / 2)  # Gauss nodes mapped to [0, 1]
    np.testing.assert_allclose(phi.T @ (phi * (w / 2)[:, None]), np.eye(6), atol=1e-12)


def test_legs_memory_reconstructs_the_history_better_with_more_state():
    T = 300
    s = (np.arange(T) + 0.5) / T  # sample k stands for ((k-1)/T, k/T]
    f = np.sin(6 * s) + 0.5 * np.cos(13 * s ** 2)
    errors = []
    for N in (4, 8, 16, 32):
        memory = hippo.legs_memory(f, N)  # (T, N)
        c = memory[-1]
        errors.append(np.sqrt(np.mean((hippo.reconstruct(c, s) - f) ** 2)))
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 1e-3 < errors[0]
    # the memory after k samples describes the first k samples, rescaled to [0, 1]
    c_half = memory[T // 2 - 1]
    s_half = (np.arange(T // 2) + 0.5) / (T // 2)
    assert np.sqrt(np.mean((hippo.reconstruct(c_half, s_half) - f[:T // 2]) ** 2)) < 1e-3


def test_batched_matrix_exponential_equals_scipy():
    A, B = hippo.legs_matrices(12)
    stack = np.stack([A * h for h in (1e-3, 0.3, 0.69)] + [np.zeros((12, 12))])
    for M, E in zip(stack, hippo._expm_batch(stack)):
        np.testing.assert_allclose(E, scipy.linalg.expm(M), atol=1e-11)
