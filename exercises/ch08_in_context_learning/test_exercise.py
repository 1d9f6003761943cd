"""Graded tests of set ch08_in_context_learning: learners, the LSA layer, probes, regret.

Each test compares the graded function with the reference (minitx itself) on seeded
random inputs, awkward shapes included (no examples, fewer examples than dimensions,
one dimension), and checks a property against a definition written here: least squares
interpolates, ridge solves its normal equations, gradient descent converges to least
squares, Newton's iterate inverts, the LSA layer with the constructed weights predicts
one GD step, an exact probe has r2 = 1, regret counts by brute force. A test calls only
the function it grades.
"""

import numpy as np
import pytest

from minitx.grading import load_exercise, load_reference
from minitx.grading.checks import assert_close, unpack

ex = load_exercise(__file__)    # exercise.py, or the reference under --solution;
ref = load_reference(__file__)  # the reference, for expected values.


@pytest.fixture
def rng():
    return np.random.default_rng(8)


def prompts(rng, B=4, k=6, d=3, noise=0.0):
    X = rng.standard_normal((B, k, d))
    w = rng.standard_normal((B, d))
    y = np.einsum("bkd,bd->bk", X, w) + noise * rng.standard_normal((B, k))
    x_q = rng.standard_normal((B, d))
    return X, y, x_q, w


def lsa_matrix(X, y, x_q):
    """E = [[x_1 .. x_n, x_q], [y_1 .. y_n, 0]], (B, d+1, n+1), built here by the definition."""
    B, n, d = X.shape
    E = np.zeros((B, d + 1, n + 1))
    for b in range(B):
        for i in range(n):
            E[b, :d, i], E[b, d, i] = X[b, i], y[b, i]
        E[b, :d, n] = x_q[b]
    return E


# ----- interleave_prompt --------------------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("shape", [(2, 4, 3), (1, 1, 2), (3, 5, 1)], ids=["B2K4d3", "K1", "d1"])
def test_interleave_prompt_matches_reference(rng, shape):
    xs, ys = rng.standard_normal(shape), rng.standard_normal(shape[:2])
    assert_close(ex.interleave_prompt(xs, ys), ref.interleave_prompt(xs, ys), "tokens")


@pytest.mark.points(1)
def test_interleave_prompt_token_by_token(rng):
    B, K, d = 2, 3, 2
    xs, ys = rng.standard_normal((B, K, d)), rng.standard_normal((B, K))
    tokens = np.asarray(ex.interleave_prompt(xs, ys))
    assert tokens.shape == (B, 2 * K - 1, d + 1), f"tokens: shape {tokens.shape}"
    for i in range(K):
        assert_close(tokens[:, 2 * i], np.concatenate([xs[:, i], np.zeros((B, 1))], 1),
                     f"x token {2 * i}")
        if i < K - 1:
            want = np.zeros((B, d + 1))
            want[:, d] = ys[:, i]
            assert_close(tokens[:, 2 * i + 1], want, f"y token {2 * i + 1}")


# ----- least_squares_predict ----------------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("k", [0, 2, 3, 7], ids=["k0", "k<d", "k=d", "k>d"])
def test_least_squares_predict_matches_reference(rng, k):
    X, y, x_q, _ = prompts(rng, k=k, d=3, noise=0.3)
    assert_close(ex.least_squares_predict(X, y, x_q), ref.least_squares_predict(X, y, x_q),
                 "y_hat")


@pytest.mark.points(1)
def test_least_squares_predict_recovers_a_noiseless_function(rng):
    X, y, x_q, w = prompts(rng, k=8, d=3)
    assert_close(ex.least_squares_predict(X, y, x_q), np.einsum("bd,bd->b", w, x_q), "y_hat",
                 note="(noiseless labels and k > d: least squares finds w exactly)")


@pytest.mark.points(1)
def test_least_squares_predict_is_the_minimum_norm_interpolant(rng):
    X, y, _, _ = prompts(rng, B=3, k=2, d=5)
    # the minimum-norm solution lies in the row space of X: w = X^T a with X X^T a = y
    a = np.linalg.solve(np.einsum("bkd,bjd->bkj", X, X), y[..., None])[..., 0]
    w = np.einsum("bkd,bk->bd", X, a)
    for j in range(5):  # read w back one coordinate at a time through unit queries
        e_j = np.zeros((3, 5))
        e_j[:, j] = 1
        assert_close(ex.least_squares_predict(X, y, e_j), w[:, j], f"w[{j}]",
                     note="(k < d: the minimum-norm interpolating w)")


# ----- ridge_predict ----------------------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("k, lam", [(0, 0.5), (2, 0.1), (9, 2.0)], ids=["k0", "k<d", "k>d"])
def test_ridge_predict_matches_reference(rng, k, lam):
    X, y, x_q, _ = prompts(rng, k=k, d=3, noise=0.5)
    assert_close(ex.ridge_predict(X, y, x_q, lam), ref.ridge_predict(X, y, x_q, lam), "y_hat")


@pytest.mark.points(1)
def test_ridge_predict_solves_the_normal_equations(rng):
    X, y, _, _ = prompts(rng, B=2, k=5, d=3, noise=0.5)
    lam = 0.7
    w = np.stack([np.linalg.solve(X[b].T @ X[b] + lam * np.eye(3), X[b].T @ y[b])
                  for b in range(2)])
    queries = rng.standard_normal((2, 3))
    assert_close(ex.ridge_predict(X, y, queries, lam), np.einsum("bd,bd->b", w, queries),
                 "y_hat", note="(w must solve (X^T X + lam I) w = X^T y)")


@pytest.mark.points(1)
def test_ridge_predict_rejects_a_non_positive_penalty(rng):
    X, y, x_q, _ = prompts(rng)
    with pytest.raises(ValueError, match="lam"):
        ex.ridge_predict(X, y, x_q, 0.0)


# ----- gd_predict -------------------------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("k, steps", [(0, 3), (5, 0), (5, 1), (4, 7)],
                         ids=["k0", "0steps", "1step", "7steps"])
def test_gd_predict_matches_reference(rng, k, steps):
    X, y, x_q, _ = prompts(rng, k=k)
    assert_close(ex.gd_predict(X, y, x_q, steps, 0.3), ref.gd_predict(X, y, x_q, steps, 0.3),
                 "y_hat")


@pytest.mark.points(1)
def test_gd_predict_one_step_is_the_scaled_average(rng):
    X, y, x_q, _ = prompts(rng, k=6)
    want = 0.4 * np.einsum("bkd,bk,bd->b", X, y, x_q) / 6
    assert_close(ex.gd_predict(X, y, x_q, 1, 0.4), want, "y_hat",
                 note="(one step from w = 0 is lr (1/k) X^T y)")


@pytest.mark.points(1)
def test_gd_predict_many_steps_reach_least_squares(rng):
    X, y, x_q, _ = prompts(rng, B=2, k=10, d=2, noise=0.2)
    w = np.stack([np.linalg.lstsq(X[b], y[b], rcond=None)[0] for b in range(2)])
    assert_close(ex.gd_predict(X, y, x_q, 400, 0.5), np.einsum("bd,bd->b", w, x_q), "y_hat",
                 atol=1e-6, note="(400 small steps converge to the least-squares fit)")


# ----- newton_schulz_inverse ----------------------------------------------------------------

def spd(rng, B=3, d=4):
    A = rng.standard_normal((B, d, d))
    return np.einsum("bij,bkj->bik", A, A) + 0.5 * np.eye(d)


@pytest.mark.points(1)
@pytest.mark.parametrize("steps", [0, 1, 5])
def test_newton_schulz_inverse_matches_reference(rng, steps):
    S = spd(rng)
    assert_close(ex.newton_schulz_inverse(S, steps), ref.newton_schulz_inverse(S, steps), "M")


@pytest.mark.points(2)
def test_newton_schulz_inverse_converges_quadratically(rng):
    S = spd(rng, B=2, d=3)
    inverse = np.linalg.inv(S)
    errors = [np.abs(np.asarray(ex.newton_schulz_inverse(S, j)) - inverse).max()
              for j in (10, 40)]
    assert errors[1] < 1e-8, f"M_40 is {errors[1]:.2e} from S^-1 (expected < 1e-8)"
    assert errors[1] <= errors[0], "more Newton steps moved M away from S^-1"


# ----- lsa_forward ------------------------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("n", [1, 5])
def test_lsa_forward_matches_reference(rng, n):
    d = 3
    E = rng.standard_normal((2, d + 1, n + 1))
    w_kq, w_pv = rng.standard_normal((d + 1, d + 1)), rng.standard_normal((d + 1, d + 1))
    assert_close(ex.lsa_forward(E, w_kq, w_pv), ref.lsa_forward(E, w_kq, w_pv), "f(E)")


@pytest.mark.points(2)
def test_lsa_forward_column_by_column(rng):
    d, n = 2, 4
    E = rng.standard_normal((1, d + 1, n + 1))
    w_kq, w_pv = rng.standard_normal((d + 1, d + 1)), rng.standard_normal((d + 1, d + 1))
    out = np.asarray(ex.lsa_forward(E, w_kq, w_pv))
    e = E[0]
    for j in range(n + 1):  # column j: e_j + (1/n) sum_i W^PV e_i (e_i^T W^KQ e_j)
        want = e[:, j] + sum(w_pv @ e[:, i] * (e[:, i] @ w_kq @ e[:, j])
                             for i in range(n + 1)) / n
        assert_close(out[0, :, j], want, f"f(E) column {j}")


# ----- lsa_weights_for_gd -------------------------------------------------------------------

@pytest.mark.points(1)
def test_lsa_weights_for_gd_matches_reference():
    got = unpack(ex.lsa_weights_for_gd(3, 0.25), 2, "lsa_weights_for_gd")
    for name, g, e in zip(["w_kq", "w_pv"], got, ref.lsa_weights_for_gd(3, 0.25)):
        assert_close(g, e, name)


@pytest.mark.points(3)
@pytest.mark.parametrize("d, n, lr", [(3, 6, 0.3), (1, 2, 1.0), (4, 10, 0.05)])
def test_lsa_weights_for_gd_make_the_layer_one_gd_step(rng, d, n, lr):
    X, y, x_q, _ = prompts(rng, B=3, k=n, d=d, noise=0.1)
    w_kq, w_pv = unpack(ex.lsa_weights_for_gd(d, lr), 2, "lsa_weights_for_gd")
    E = lsa_matrix(X, y, x_q)
    moments = np.einsum("bjk,bmk->bjm", E, E) / n  # E E^T / n      (B, d+1, d+1)
    column = np.asarray(w_pv) @ moments @ np.asarray(w_kq) @ E[:, :, n:]  # (B, d+1, 1)
    prediction = E[:, d, n] + column[:, d, 0]  # bottom-right entry of f(E)
    one_step = lr * np.einsum("bkd,bk,bd->b", X, y, x_q) / n
    assert_close(prediction, one_step, "LSA prediction f(E)[d, n]",
                 note=f"(with your weights the layer must predict one GD step of size {lr})")


# ----- fit_linear_probe ---------------------------------------------------------------------

@pytest.mark.points(1)
def test_fit_linear_probe_matches_reference(rng):
    H, target = rng.standard_normal((40, 5)), rng.standard_normal(40)
    got = unpack(ex.fit_linear_probe(H, target), 3, "fit_linear_probe")
    for name, g, e in zip(["weights", "bias", "r2"], got, ref.fit_linear_probe(H, target)):
        assert_close(g, e, name)


@pytest.mark.points(2)
def test_fit_linear_probe_recovers_an_exact_linear_readout(rng):
    H = rng.standard_normal((30, 4))
    weights, bias = rng.standard_normal(4), 1.5
    got = unpack(ex.fit_linear_probe(H, H @ weights + bias), 3, "fit_linear_probe")
    assert_close(got[0], weights, "weights")
    assert_close(got[1], bias, "bias")
    assert_close(got[2], 1.0, "r2", note="(an exact linear target is explained fully)")


@pytest.mark.points(1)
def test_fit_linear_probe_r2_of_noise_is_small(rng):
    H, target = rng.standard_normal((2000, 3)), rng.standard_normal(2000)
    r2 = unpack(ex.fit_linear_probe(H, target), 3, "fit_linear_probe")[2]
    assert 0 <= r2 < 0.02, f"r2 = {r2:.4f} for a target independent of H (expected near 0)"


# ----- cumulative_regret --------------------------------------------------------------------

@pytest.mark.points(1)
def test_cumulative_regret_matches_reference(rng):
    means, actions = rng.random((3, 4)), rng.integers(0, 4, size=(3, 12))
    assert_close(ex.cumulative_regret(means, actions), ref.cumulative_regret(means, actions),
                 "regret")


@pytest.mark.points(2)
def test_cumulative_regret_counts_by_brute_force(rng):
    means, actions = rng.random((2, 5)), rng.integers(0, 5, size=(2, 9))
    got = np.asarray(ex.cumulative_regret(means, actions))
    for b in range(2):
        total = 0.0
        for t in range(9):
            total += max(means[b]) - means[b, actions[b, t]]
            assert_close(got[b, t], total, f"regret[{b}, {t}]")
    always_best = np.repeat(means.argmax(1)[:, None], 9, axis=1)
    assert_close(ex.cumulative_regret(means, always_best), np.zeros((2, 9)), "regret",
                 note="(an agent that always pulls the best arm has no regret)")
