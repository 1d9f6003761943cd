"""Graded tests of set ch06_state_space_models: HiPPO, discretisation, S4D, convolutions, LMU.

Each test compares the graded function with the reference (minitx itself) on seeded
random inputs, and checks a property against a definition written here: matrices entry
by entry from the papers' formulas, discretisations against the exact solution of a
scalar system, the Vandermonde kernel against the impulse response of the recurrence, the
scan against a convolution with that kernel, the FFT convolution against the double sum,
its backward against finite differences. A test calls only the function it grades.
"""

import math

import numpy as np
import pytest

from minitx.grading import load_exercise, load_reference
from minitx.grading.checks import assert_close, check_grad, unpack

ex = load_exercise(__file__)    # exercise.py, or the reference under --solution;
ref = load_reference(__file__)  # the reference, for expected values.
# Use ex.<name> only inside tests: ex loads on first use, so a learner's broken file
# costs each test rather than the whole set.


@pytest.fixture
def rng():
    return np.random.default_rng(6)


def random_diagonal_ssm(rng, H=3, n=4):
    dt = rng.uniform(0.05, 0.5, H)
    A = -rng.uniform(0.1, 1.0, (H, n)) + 1j * rng.uniform(-4, 4, (H, n))
    B = rng.standard_normal((H, n)) + 1j * rng.standard_normal((H, n))
    C = rng.standard_normal((H, n)) + 1j * rng.standard_normal((H, n))
    return dt, A, B, C


def conv_sum(u, k):
    """The definition: y[b, t, c] = sum_{l <= t} k[c, l] u[b, t - l, c]."""
    y = np.zeros(u.shape)
    for t in range(u.shape[1]):
        for l in range(t + 1):
            y[:, t] += k[:, l] * u[:, t - l]
    return y


def stable_matrix(rng, N):
    M = rng.standard_normal((N, N))
    return M - (np.abs(np.linalg.eigvals(M)).max() + 0.5) * np.eye(N)


# ----- HiPPO-LegS ---------------------------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("N", [1, 3, 8])
def test_hippo_legs_matches_reference(N):
    A, B = unpack(ex.hippo_legs(N), 2, "hippo_legs")
    A_ref, B_ref = ref.hippo_legs(N)
    assert_close(A, A_ref, f"hippo_legs({N}): A")
    assert_close(B, B_ref, f"hippo_legs({N}): B")


@pytest.mark.points(1)
def test_hippo_legs_entries_and_low_rank_structure():
    N = 6
    A, B = unpack(ex.hippo_legs(N), 2, "hippo_legs")
    for n in range(N):
        for k in range(N):
            want = -math.sqrt(2 * n + 1) * math.sqrt(2 * k + 1) if n > k else \
                -(n + 1) if n == k else 0.0
            assert_close(np.asarray(A)[n, k], np.float64(want), f"hippo_legs: A[{n}, {k}]")
    # S4's structure: A + P P^T with P_n = sqrt(n + 1/2) is -1/2 I plus a skew-symmetric matrix
    P = np.sqrt(np.arange(N) + 0.5)
    S = np.asarray(A) + np.outer(P, P) + 0.5 * np.eye(N)
    assert_close(S + S.T, np.zeros((N, N)), "hippo_legs: A + P P^T + I/2 should be skew")
    assert_close(B, np.sqrt(2 * np.arange(N) + 1.0), "hippo_legs: B")


# ----- discretisation -----------------------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("N,dt", [(1, 0.3), (4, 0.05), (6, 1.0)])
def test_discretize_zoh_matches_reference(rng, N, dt):
    A, B = stable_matrix(rng, N), rng.standard_normal(N)
    got = unpack(ex.discretize_zoh(A, B, dt), 2, "discretize_zoh")
    for name, g, e in zip(["Abar", "Bbar"], got, ref.discretize_zoh(A, B, dt)):
        assert_close(g, e, f"discretize_zoh: {name}")


@pytest.mark.points(1)
def test_discretize_zoh_exact_solutions():
    # scalar system x' = a x + b u, u = 1 over the step: x(dt) = e^{a dt} x0 + b (e^{a dt} - 1) / a
    a, b, dt = -0.7, 2.0, 0.4
    Abar, Bbar = unpack(ex.discretize_zoh(np.array([[a]]), np.array([b]), dt), 2, "discretize_zoh")
    assert_close(Abar, np.array([[math.exp(a * dt)]]), "discretize_zoh: Abar of a scalar system")
    assert_close(Bbar, np.array([b * (math.exp(a * dt) - 1) / a]),
                 "discretize_zoh: Bbar of a scalar system")
    # a double integrator (A is singular): position gains dt^2 / 2, velocity dt
    Abar, Bbar = unpack(ex.discretize_zoh(np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([0.0, 1.0]),
                                          0.5), 2, "discretize_zoh")
    assert_close(Abar, np.array([[1.0, 0.5], [0.0, 1.0]]), "discretize_zoh: Abar, singular A")
    assert_close(Bbar, np.array([0.125, 0.5]), "discretize_zoh: Bbar, singular A")


@pytest.mark.points(1)
@pytest.mark.parametrize("N,dt", [(1, 0.3), (5, 0.1)])
def test_discretize_bilinear_matches_reference(rng, N, dt):
    A, B = stable_matrix(rng, N), rng.standard_normal(N)
    got = unpack(ex.discretize_bilinear(A, B, dt), 2, "discretize_bilinear")
    for name, g, e in zip(["Abar", "Bbar"], got, ref.discretize_bilinear(A, B, dt)):
        assert_close(g, e, f"discretize_bilinear: {name}")


@pytest.mark.points(1)
def test_discretize_bilinear_diagonal_system():
    a = np.array([-1.0, -0.2, -3.0])
    dt = 0.25
    Abar, Bbar = unpack(ex.discretize_bilinear(np.diag(a), np.ones(3), dt), 2,
                        "discretize_bilinear")
    assert_close(Abar, np.diag((1 + dt / 2 * a) / (1 - dt / 2 * a)),
                 "discretize_bilinear: Abar of diag(a)")
    assert_close(Bbar, dt / (1 - dt / 2 * a), "discretize_bilinear: Bbar of diag(a)")


# ----- S4D ----------------------------------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("N", [2, 8, 64])
def test_s4d_lin_init_matches_reference(N):
    got = unpack(ex.s4d_lin_init(N), 2, "s4d_lin_init")
    for name, g, e in zip(["real parts", "imaginary parts"], got, ref.s4d_lin_init(N)):
        assert_close(g, e, f"s4d_lin_init({N}): {name}")
    assert_close(np.diff(got[1]), np.full(N // 2 - 1, math.pi), "s4d_lin_init: spacing of Im A")


@pytest.mark.points(1)
@pytest.mark.parametrize("N", [2, 8, 64])
def test_s4d_inv_init_matches_reference(N):
    got = unpack(ex.s4d_inv_init(N), 2, "s4d_inv_init")
    for name, g, e in zip(["real parts", "imaginary parts"], got, ref.s4d_inv_init(N)):
        assert_close(g, e, f"s4d_inv_init({N}): {name}")
    assert_close(got[1][0], np.float64(N / math.pi * (N - 1)), "s4d_inv_init: Im A_0")


@pytest.mark.points(1)
@pytest.mark.parametrize("L", [1, 9])
def test_vandermonde_kernel_matches_reference(rng, L):
    dt, A, B, C = random_diagonal_ssm(rng)
    assert_close(ex.vandermonde_kernel(dt, A, B, C, L), ref.vandermonde_kernel(dt, A, B, C, L),
                 "vandermonde_kernel")


@pytest.mark.points(2)
def test_vandermonde_kernel_is_the_impulse_response(rng):
    dt, A, B, C = random_diagonal_ssm(rng, H=2, n=3)
    L = 10
    K = ex.vandermonde_kernel(dt, A, B, C, L)
    Abar = np.exp(dt[:, None] * A)
    x, want = np.zeros_like(A), np.empty((2, L))
    for l in range(L):  # feed u = (1, 0, 0, ...) through the recurrence
        x = Abar * x + (Abar - 1) / A * B * (l == 0)
        want[:, l] = 2 * (C * x).sum(-1).real
    assert_close(K, want, "vandermonde_kernel vs the impulse response of the recurrence")


@pytest.mark.points(1)
def test_diagonal_ssm_scan_matches_reference(rng):
    dt, A, B, C = random_diagonal_ssm(rng)
    u = rng.standard_normal((2, 7, 3))
    assert_close(ex.diagonal_ssm_scan(dt, A, B, C, u), ref.diagonal_ssm_scan(dt, A, B, C, u),
                 "diagonal_ssm_scan")


@pytest.mark.points(2)
def test_diagonal_ssm_scan_equals_the_convolution(rng):
    dt, A, B, C = random_diagonal_ssm(rng, H=2, n=5)
    u = rng.standard_normal((3, 12, 2))
    Abar = np.exp(dt[:, None] * A)
    K = 2 * np.einsum("hn,hnl->hl", C * (Abar - 1) / A * B,
                      Abar[..., None] ** np.arange(12)).real
    assert_close(ex.diagonal_ssm_scan(dt, A, B, C, u), conv_sum(u, K),
                 "diagonal_ssm_scan vs the convolution with its kernel")


# ----- convolution --------------------------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 9, 3), (1, 16, 2)])
def test_fft_causal_conv_matches_the_sum(rng, shape):
    u, k = rng.standard_normal(shape), rng.standard_normal((shape[2], shape[1]))
    assert_close(ex.fft_causal_conv(u, k), conv_sum(u, k), "fft_causal_conv vs the double sum")


@pytest.mark.points(1)
def test_fft_causal_conv_long_sequence(rng):
    u, k = rng.standard_normal((2, 3000, 2)), rng.standard_normal((2, 3000)) / 30
    assert_close(ex.fft_causal_conv(u, k), ref.fft_causal_conv(u, k), "fft_causal_conv (T = 3000)",
                 atol=1e-8)


@pytest.mark.points(1)
def test_causal_conv_backward_matches_reference(rng):
    u, k, g = rng.standard_normal((2, 8, 3)), rng.standard_normal((3, 8)), \
        rng.standard_normal((2, 8, 3))
    got = unpack(ex.causal_conv_backward(u, k, g), 2, "causal_conv_backward")
    for name, a, e in zip(["du", "dk"], got, ref.causal_conv_backward(u, k, g)):
        assert_close(a, e, f"causal_conv_backward: {name}")


@pytest.mark.points(2)
def test_causal_conv_backward_finite_differences(rng):
    u, k, g = rng.standard_normal((2, 6, 2)), rng.standard_normal((2, 6)), \
        rng.standard_normal((2, 6, 2))
    grads = unpack(ex.causal_conv_backward(u, k, g), 2, "causal_conv_backward")
    check_grad(conv_sum, grads, [u, k], g, names=["u", "k"])


# ----- LMU ----------------------------------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("order,theta", [(1, 1.0), (6, 10.0)])
def test_lmu_matrices_matches_reference(order, theta):
    got = unpack(ex.lmu_matrices(order, theta), 2, "lmu_matrices")
    for name, g, e in zip(["A", "B"], got, ref.lmu_matrices(order, theta)):
        assert_close(g, e, f"lmu_matrices({order}, {theta}): {name}")


@pytest.mark.points(1)
def test_lmu_matrices_entries():
    order, theta = 5, 4.0
    A, B = unpack(ex.lmu_matrices(order, theta), 2, "lmu_matrices")
    for i in range(order):
        assert_close(np.asarray(B)[i], np.float64((2 * i + 1) * (-1) ** i / theta),
                     f"lmu_matrices: B[{i}]")
        for j in range(order):
            sign = -1 if i < j else (-1) ** (i - j + 1)
            assert_close(np.asarray(A)[i, j], np.float64((2 * i + 1) * sign / theta),
                         f"lmu_matrices: A[{i}, {j}]")
