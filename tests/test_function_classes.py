"""Function families for in-context regression, and the sparse learners (Lasso, oracle)."""

import itertools

import numpy as np
import pytest

from minitx.icl import baselines, sparse
from minitx.tasks import function_classes as fc


def test_every_family_has_the_token_layout_and_label_scale_d():
    d = 5
    for kind in fc.CLASSES:
        p = fc.make_prompts(kind, 3000, 4, d, np.random.default_rng(0), nnz=2)
        assert p.xs.shape == (3000, 4, d) and p.ys.shape == (3000, 4)
        tokens = p.tokens()
        assert tokens.shape == (3000, 7, d + 1)
        np.testing.assert_allclose(tokens[:, 0::2, :d], p.xs, rtol=1e-6)
        np.testing.assert_allclose(tokens[:, 1::2, d], p.ys[:, :-1], rtol=1e-5, atol=1e-6)
        assert np.mean(p.ys ** 2) / d == pytest.approx(1.0, rel=0.12), kind


def test_sparse_weights_have_exactly_nnz_nonzeros_on_the_support():
    p = fc.make_prompts("sparse", 200, 6, 8, np.random.default_rng(1), nnz=3)
    assert np.all(p.support.sum(1) == 3)
    assert np.all((p.ws != 0) == p.support)
    np.testing.assert_allclose(p.ys, np.einsum("bkd,bd->bk", p.xs, p.ws))
    # every coordinate is in the support about equally often (uniform supports)
    counts = fc.sparse_weights(4000, 8, 3, np.random.default_rng(2))[1].sum(0)
    assert np.all(np.abs(counts / 4000 - 3 / 8) < 0.03)


def test_relu_net_matches_a_loop_over_hidden_units():
    xs = np.random.default_rng(3).standard_normal((2, 5, 3))
    ys = fc.relu_net_values(xs, np.random.default_rng(4), hidden=7)
    rng = np.random.default_rng(4)  # the same draws, in the same order
    v = rng.standard_normal((2, 7, 3))
    a = rng.standard_normal((2, 7)) * np.sqrt(2 / 7)
    for b, k in itertools.product(range(2), range(5)):
        expected = sum(a[b, j] * max(0.0, float(v[b, j] @ xs[b, k])) for j in range(7))
        assert ys[b, k] == pytest.approx(expected)


def test_mixture_draws_each_family_with_its_weight_and_is_deterministic():
    a = fc.make_mixture({"dense": 0.25, "sparse": 0.75}, 4000, 3, 4, np.random.default_rng(5))
    b = fc.make_mixture({"dense": 0.25, "sparse": 0.75}, 4000, 3, 4, np.random.default_rng(5))
    np.testing.assert_array_equal(a.tokens(), b.tokens())
    assert np.mean(a.kinds == "dense") == pytest.approx(0.25, abs=0.03)
    dense = a.kinds == "dense"
    assert np.all(a.support[dense]) and np.all(a.support[~dense].sum(1) == 1)
    np.testing.assert_allclose(a.ys, np.einsum("bkd,bd->bk", a.xs, a.ws))


def test_convex_combination_is_the_weighted_sum_on_shared_inputs():
    p = fc.make_convex_combination("dense", "sparse", 0.3, 10, 4, 3, np.random.default_rng(6))
    np.testing.assert_allclose(p.ys, np.einsum("bkd,bd->bk", p.xs, p.ws))  # both linear


def test_bad_arguments_name_the_value():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown class 'cubic'"):
        fc.make_prompts("cubic", 2, 3, 4, rng)
    with pytest.raises(ValueError, match="nnz"):
        fc.make_prompts("sparse", 2, 3, 4, rng, nnz=5)
    with pytest.raises(ValueError, match="mixture weights"):
        fc.make_mixture({"dense": -1.0}, 2, 3, 4, rng)
    with pytest.raises(ValueError, match="alpha"):
        fc.make_convex_combination("dense", "sparse", 1.5, 2, 3, 4, rng)


def test_soft_threshold_is_the_l1_proximal_map_by_grid_search():
    grid = np.linspace(-5, 5, 200001)
    for z, lam in [(2.0, 0.5), (-0.3, 0.5), (-3.0, 1.0), (0.7, 0.0)]:
        brute = grid[np.argmin(0.5 * (grid - z) ** 2 + lam * np.abs(grid))]
        assert sparse.soft_threshold(np.array(z), lam) == pytest.approx(brute, abs=1e-4)


def test_lasso_satisfies_its_optimality_conditions():
    """At the minimiser: X_j.(y - Xw)/k = lam sign(w_j) where w_j != 0, |.| <= lam elsewhere."""
    rng = np.random.default_rng(7)
    X, y = rng.standard_normal((20, 12, 5)), rng.standard_normal((20, 12))
    lam = 0.1
    w = sparse.lasso_weights(X, y, lam, iters=400)
    grad = np.einsum("bkd,bk->bd", X, y - np.einsum("bkd,bd->bk", X, w)) / 12
    on = w != 0
    np.testing.assert_allclose(grad[on], lam * np.sign(w[on]), atol=1e-6)
    assert np.all(np.abs(grad[~on]) <= lam + 1e-6)
    # and no random perturbation lowers the objective
    base = sparse.lasso_objective(X, y, w, lam)
    for _ in range(20):
        assert np.all(sparse.lasso_objective(X, y, w + 1e-3 * rng.standard_normal(w.shape), lam)
                      >= base - 1e-12)


def test_lasso_tends_to_least_squares_as_lambda_vanishes_when_k_above_d():
    rng = np.random.default_rng(8)
    X, y, xq = rng.standard_normal((10, 9, 3)), rng.standard_normal((10, 9)), \
        rng.standard_normal((10, 3))
    np.testing.assert_allclose(sparse.lasso(X, y, xq, lam=1e-7, iters=200),
                               baselines.least_squares(X, y, xq), atol=1e-4)


def test_oracle_least_squares_is_exact_from_nnz_examples_and_lasso_recovers_sparse_w():
    p = fc.make_prompts("sparse", 300, 8, 6, np.random.default_rng(9), nnz=2)
    X, y, xq, yq = p.xs[:, :2], p.ys[:, :2], p.xs[:, 2], p.ys[:, 2]
    np.testing.assert_allclose(sparse.oracle_least_squares(X, y, xq, p.support), yq, atol=1e-8)
    X, y, xq, yq = p.xs[:, :5], p.ys[:, :5], p.xs[:, 5], p.ys[:, 5]  # k = 5 < d = 6
    lasso_err = np.mean((sparse.lasso(X, y, xq, lam=1e-3) - yq) ** 2)
    ols_err = np.mean((baselines.least_squares(X, y, xq) - yq) ** 2)
    assert lasso_err < 0.5 * ols_err  # sparsity is worth examples below k = d
    with pytest.raises(ValueError, match="support"):
        sparse.oracle_least_squares(X, y, xq, p.support[:, :3])
