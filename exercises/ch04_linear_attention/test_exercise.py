"""Graded tests of set ch04_linear_attention: feature maps, the three forms, gated and
delta-rule states, the WY transform, LASP-2's prefix.

Each test compares the graded function with the reference (minitx itself) on seeded
random inputs, awkward shapes included (one token, a chunk that does not divide T, one
dimension), and checks a property against a definition written here: the recurrent
steps reproduce the masked form, chunks of any size give the same outputs, Performer's
features estimate exp(q . k / sqrt(D)), the delta rule overwrites, GLA with gates 1 is
linear attention without normaliser, the WY transform gives the delta-rule state, the
prefix equals the decayed state of all earlier tokens. A test calls only the function it
grades.
"""

import numpy as np
import pytest

from minitx.grading import load_exercise, load_reference
from minitx.grading.checks import assert_close, unpack

ex = load_exercise(__file__)    # exercise.py, or the reference under --solution;
ref = load_reference(__file__)  # the reference, for expected values.

EPS = 1e-6


@pytest.fixture
def rng():
    return np.random.default_rng(4)


def features(rng, T, D):
    return np.abs(rng.standard_normal((T, D))) + 0.1


def masked_definition(fq, fk, v):
    """y_i = sum_{j <= i} (fq_i . fk_j) v_j / (sum_{j <= i} fq_i . fk_j + EPS), loop by loop."""
    T = len(fq)
    y = np.zeros((T, v.shape[1]))
    for i in range(T):
        w = np.array([fq[i] @ fk[j] for j in range(i + 1)])
        y[i] = w @ v[:i + 1] / (w.sum() + EPS)
    return y


# ----- elu_feature_map ------------------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("shape", [(5, 3), (1,), (2, 3, 4)], ids=["T5D3", "one", "3d"])
def test_elu_feature_map_matches_reference(rng, shape):
    x = 2 * rng.standard_normal(shape)
    assert_close(ex.elu_feature_map(x), ref.elu_feature_map(x), "phi(x)")


@pytest.mark.points(1)
def test_elu_feature_map_by_cases():
    x = np.array([-30.0, -1.0, 0.0, 0.5, 3.0])
    want = np.array([np.exp(-30.0), np.exp(-1.0), 1.0, 1.5, 4.0])
    got = np.asarray(ex.elu_feature_map(x))
    assert_close(got, want, "elu(x) + 1 at -30, -1, 0, 0.5, 3", rtol=1e-9, atol=1e-15)
    assert (got > 0).all(), "elu(x) + 1 must be positive everywhere"


# ----- linear_attention_step -------------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("dims", [(3, 2), (1, 4), (4, 1)], ids=["D3Dv2", "D1", "Dv1"])
def test_linear_attention_step_matches_reference(rng, dims):
    D, Dv = dims
    S, z = rng.standard_normal((D, Dv)), np.abs(rng.standard_normal(D))
    fq, fk, v = np.abs(rng.standard_normal(D)), np.abs(rng.standard_normal(D)), \
        rng.standard_normal(Dv)
    got = unpack(ex.linear_attention_step(S, z, fq, fk, v), 3, "linear_attention_step")
    for name, g, e in zip(["S_t", "z_t", "y_t"], got, ref.linear_attention_step(S, z, fq, fk, v)):
        assert_close(g, e, f"linear_attention_step: {name}")


@pytest.mark.points(2)
def test_linear_attention_step_run_from_zero_is_the_masked_form(rng):
    T, D, Dv = 6, 3, 2
    fq, fk, v = features(rng, T, D), features(rng, T, D), rng.standard_normal((T, Dv))
    want = masked_definition(fq, fk, v)
    S, z = np.zeros((D, Dv)), np.zeros(D)
    for t in range(T):
        S, z, y = unpack(ex.linear_attention_step(S, z, fq[t], fk[t], v[t]), 3,
                         "linear_attention_step")
        assert_close(y, want[t], f"linear_attention_step: y at step {t}",
                     note="(vs the masked definition over the whole sequence)")


# ----- linear_attention_parallel ---------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("dims", [(6, 3, 2), (1, 2, 2), (5, 1, 3)], ids=["T6", "T1", "D1"])
def test_linear_attention_parallel_matches_reference(rng, dims):
    T, D, Dv = dims
    fq, fk, v = features(rng, T, D), features(rng, T, D), rng.standard_normal((T, Dv))
    assert_close(ex.linear_attention_parallel(fq, fk, v), ref.linear_attention_parallel(fq, fk, v),
                 "y")


@pytest.mark.points(2)
def test_linear_attention_parallel_by_the_definition_and_causal(rng):
    T, D, Dv = 7, 3, 2
    fq, fk, v = features(rng, T, D), features(rng, T, D), rng.standard_normal((T, Dv))
    y = ex.linear_attention_parallel(fq, fk, v)
    assert_close(y, masked_definition(fq, fk, v), "y (vs the masked definition)")
    v2 = v.copy()
    v2[4:] += 10.0
    assert_close(np.asarray(ex.linear_attention_parallel(fq, fk, v2))[:4], np.asarray(y)[:4],
                 "y[:4] after changing v[4:] (a query must not see later keys)")


# ----- linear_attention_chunked ----------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("case", [(8, 4), (7, 3), (5, 8), (6, 1)],
                         ids=["divides", "ragged", "one_chunk", "C1"])
def test_linear_attention_chunked_matches_reference(rng, case):
    T, C = case
    fq, fk, v = features(rng, T, 3), features(rng, T, 3), rng.standard_normal((T, 2))
    assert_close(ex.linear_attention_chunked(fq, fk, v, C),
                 ref.linear_attention_chunked(fq, fk, v, C), f"y with chunk_size={C}")


@pytest.mark.points(2)
def test_linear_attention_chunked_any_chunk_size_is_the_masked_form(rng):
    T = 9
    fq, fk, v = features(rng, T, 2), features(rng, T, 2), rng.standard_normal((T, 3))
    want = masked_definition(fq, fk, v)
    for C in (1, 2, 4, 9):
        assert_close(ex.linear_attention_chunked(fq, fk, v, C), want,
                     f"y with chunk_size={C}", note="(vs the masked definition)")


@pytest.mark.points(1)
def test_linear_attention_chunked_rejects_a_bad_chunk_size(rng):
    fq = features(rng, 4, 2)
    with pytest.raises(ValueError, match="chunk_size"):
        ex.linear_attention_chunked(fq, fq, fq, 0)


# ----- performer_features ----------------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("dims", [(5, 4, 8), (1, 2, 3), (3, 1, 5)], ids=["n5", "n1", "D1"])
def test_performer_features_matches_reference(rng, dims):
    n, D, m = dims
    x, omega = rng.standard_normal((n, D)), rng.standard_normal((m, D))
    assert_close(ex.performer_features(x, omega), ref.performer_features(x, omega), "phi(x)")


@pytest.mark.points(2)
def test_performer_features_estimate_the_softmax_kernel(rng):
    D, m = 4, 100_000
    q, k = 0.5 * rng.standard_normal((3, D)), 0.5 * rng.standard_normal((3, D))
    omega = rng.standard_normal((m, D))
    fq, fk = np.asarray(ex.performer_features(q, omega)), np.asarray(ex.performer_features(k, omega))
    assert (fq > 0).all() and (fk > 0).all(), "positive random features must be positive"
    exact = np.exp(q @ k.T / np.sqrt(D))
    assert_close(fq @ fk.T, exact, "phi(q) . phi(k) with 1e5 features", rtol=0.05, atol=0.0,
                 note="(vs exp(q . k / sqrt(D)))")


# ----- delta_rule_step -------------------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("case", [(3, 2, 0.5), (1, 3, 1.0), (4, 1, 0.0)], ids=["D3", "D1", "b0"])
def test_delta_rule_step_matches_reference(rng, case):
    D, Dv, beta = case
    S, k, v = rng.standard_normal((D, Dv)), rng.standard_normal(D), rng.standard_normal(Dv)
    assert_close(ex.delta_rule_step(S, k, v, beta), ref.delta_rule_step(S, k, v, beta), "S_t")


@pytest.mark.points(2)
def test_delta_rule_step_overwrites_the_value_at_a_unit_key(rng):
    D, Dv = 4, 3
    S = rng.standard_normal((D, Dv))
    k = rng.standard_normal(D)
    k /= np.linalg.norm(k)
    v = rng.standard_normal(Dv)
    S_new = np.asarray(ex.delta_rule_step(S, k, v, 1.0))
    assert_close(k @ S_new, v, "k^T S_t after a write with beta = 1",
                 note="(the memory must now return v_t for k_t)")
    other = np.linalg.svd(k[None])[2][1]  # a unit vector orthogonal to k
    assert_close(other @ S_new, other @ S, "u^T S_t for u orthogonal to k (must not change)")


# ----- gla_step --------------------------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("dims", [(3, 2), (1, 1), (4, 3)], ids=["D3", "D1", "D4"])
def test_gla_step_matches_reference(rng, dims):
    D, Dv = dims
    S, a = rng.standard_normal((D, Dv)), rng.uniform(0.1, 1.0, D)
    q, k, v = rng.standard_normal(D), rng.standard_normal(D), rng.standard_normal(Dv)
    got = unpack(ex.gla_step(S, a, q, k, v), 2, "gla_step")
    for name, g, e in zip(["S_t", "o_t"], got, ref.gla_step(S, a, q, k, v)):
        assert_close(g, e, f"gla_step: {name}")


@pytest.mark.points(2)
def test_gla_step_forgets_by_the_product_of_gates(rng):
    T, D, Dv = 5, 3, 2
    q, k, v = rng.standard_normal((T, D)), rng.standard_normal((T, D)), rng.standard_normal((T, Dv))
    a = rng.uniform(0.3, 1.0, (T, D))
    S = np.zeros((D, Dv))
    for t in range(T):
        S, o = unpack(ex.gla_step(S, a[t], q[t], k[t], v[t]), 2, "gla_step")
        # definition: o_t = sum_{j <= t} sum_d q_td (prod_{j < s <= t} a_sd) k_jd v_j
        want = sum(((q[t] * np.prod(a[j + 1:t + 1], axis=0)) @ k[j]) * v[j] for j in range(t + 1))
        assert_close(o, want, f"gla_step: o at step {t}", note="(vs the gated sum over tokens)")


# ----- wy_transform ----------------------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("dims", [(4, 3), (1, 2), (5, 1)], ids=["C4", "C1", "D1"])
def test_wy_transform_matches_reference(rng, dims):
    C, D = dims
    k, beta = rng.standard_normal((C, D)) / np.sqrt(D), rng.uniform(0, 1, C)
    assert_close(ex.wy_transform(k, beta), ref.wy_transform(k, beta), "T")


@pytest.mark.points(3)
def test_wy_transform_gives_the_delta_rule_state(rng):
    C, D, Dv = 5, 3, 2
    k = rng.standard_normal((C, D))
    k /= np.linalg.norm(k, axis=1, keepdims=True)
    v, beta = rng.standard_normal((C, Dv)), rng.uniform(0.2, 1, C)
    S = np.zeros((D, Dv))
    for t in range(C):  # the delta rule, token by token, written here
        S = S + beta[t] * np.outer(k[t], v[t] - k[t] @ S)
    T = np.asarray(ex.wy_transform(k, beta))
    assert_close(np.tril(T), T, "T must be lower triangular")
    assert_close(k.T @ (T @ v), S, "K^T (T V)", note="(vs the delta-rule state after the chunk)")


# ----- lasp2_prefix_memories -------------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("case", [(4, 0.9, 3), (1, 0.5, 2), (3, 1.0, 1)], ids=["P4", "P1", "nodecay"])
def test_lasp2_prefix_memories_matches_reference(rng, case):
    P, lam, c = case
    M = rng.standard_normal((P, 2, 3))
    assert_close(ex.lasp2_prefix_memories(M, lam, c), ref.lasp2_prefix_memories(M, lam, c),
                 "prefix")


@pytest.mark.points(2)
def test_lasp2_prefix_memories_is_the_decayed_state_before_each_chunk(rng):
    P, c, D, Dv, lam = 4, 3, 2, 2, 0.8
    k, v = rng.standard_normal((P * c, D)), rng.standard_normal((P * c, Dv))
    j = np.arange(c)
    M = np.stack([np.einsum("j,jd,je->de", lam ** (c - 1 - j), k[s * c:(s + 1) * c],
                            v[s * c:(s + 1) * c]) for s in range(P)])
    prefix = np.asarray(ex.lasp2_prefix_memories(M, lam, c))
    for t in range(P):
        a = t * c  # the state after token a - 1: sum_{i < a} lam^(a - 1 - i) k_i v_i^T
        want = sum((lam ** (a - 1 - i) * np.outer(k[i], v[i]) for i in range(a)),
                   np.zeros((D, Dv)))
        assert_close(prefix[t], want, f"prefix[{t}]", note="(vs the decayed sum over tokens)")
