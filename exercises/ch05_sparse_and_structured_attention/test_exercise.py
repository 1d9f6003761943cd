"""Graded tests of set ch05_sparse_and_structured_attention: masks, groups, projections,
routing, ProbSparse, Monarch, pooling.

Each test compares the graded function with the reference (minitx itself) on seeded
random inputs, awkward shapes included (one token, a window or stride past T, a ragged last
segment), and checks a property against a definition written here: masks entry by entry,
two strided hops reach every earlier token, shifted groups straddle the plain borders,
Linformer with identity projections is full attention, routing picks the most similar
centroid, the Monarch product of the DFT factors is the FFT, pooling by brute force. A
test calls only the function it grades.
"""

import numpy as np
import pytest

from minitx.grading import load_exercise, load_reference
from minitx.grading.checks import assert_close

ex = load_exercise(__file__)    # exercise.py, or the reference under --solution;
ref = load_reference(__file__)  # the reference, for expected values.


@pytest.fixture
def rng():
    return np.random.default_rng(5)


def assert_mask(got, want, name):
    """Bool masks compared as 0/1 numbers, so the hint names the first wrong entry."""
    if got is None:
        raise AssertionError(f"{name}: got None (did you forget to `return`?)")
    assert_close(np.asarray(got).astype(float), np.asarray(want).astype(float), name)


def mask_by_rule(T, rule):
    return np.array([[bool(rule(i, j)) for j in range(T)] for i in range(T)])


def softmax_rows(s):
    e = np.exp(s - s.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


# ----- sliding_window_mask ---------------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("case", [(8, 3, 1, True), (8, 3, 2, False), (1, 1, 0, True),
                                  (5, 9, 0, True)], ids=["causal", "bidir", "T1", "wide"])
def test_sliding_window_mask_matches_reference(case):
    assert_mask(ex.sliding_window_mask(*case), ref.sliding_window_mask(*case), "mask")


@pytest.mark.points(2)
def test_sliding_window_mask_entry_by_entry():
    T, w, g = 9, 3, 2
    causal = mask_by_rule(T, lambda i, j: (0 <= i - j < w) or (j < g and j <= i))
    bidir = mask_by_rule(T, lambda i, j: abs(i - j) < w or j < g or i < g)
    assert_mask(ex.sliding_window_mask(T, w, g, True), causal, "causal mask (vs the rule)")
    assert_mask(ex.sliding_window_mask(T, w, g, False), bidir, "bidirectional mask (vs the rule)")


@pytest.mark.points(1)
def test_sliding_window_mask_rejects_a_bad_window():
    with pytest.raises(ValueError, match="window"):
        ex.sliding_window_mask(5, 0, 0, True)


# ----- strided_mask ----------------------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("case", [(9, 3), (4, 1), (5, 7)], ids=["T9", "stride1", "wide"])
def test_strided_mask_matches_reference(case):
    assert_mask(ex.strided_mask(*case), ref.strided_mask(*case), "mask")


@pytest.mark.points(2)
def test_strided_mask_by_rule_and_two_hops_reach_everything():
    T, s = 12, 3
    m = np.asarray(ex.strided_mask(T, s))
    assert_mask(m, mask_by_rule(T, lambda i, j: j <= i and ((i - j) < s or (i - j) % s == 0)),
                "mask (vs the rule)")
    two = (m.astype(int) @ m.astype(int)) > 0
    assert_mask(two, np.tril(np.ones((T, T), bool)), "two-hop reachability (must be all of tril)")


# ----- fixed_mask ------------------------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("case", [(9, 3, 1), (8, 4, 2), (3, 5, 1)], ids=["s3", "c2", "wide"])
def test_fixed_mask_matches_reference(case):
    assert_mask(ex.fixed_mask(*case), ref.fixed_mask(*case), "mask")


@pytest.mark.points(2)
def test_fixed_mask_by_rule():
    T, s, c = 10, 4, 2
    want = mask_by_rule(T, lambda i, j: j <= i and (i // s == j // s or j % s >= s - c))
    assert_mask(ex.fixed_mask(T, s, c), want, "mask (vs the rule)")


# ----- s2_group_ids ----------------------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("case", [(10, 4, False), (10, 4, True), (1, 2, True), (7, 1, True)],
                         ids=["plain", "shifted", "T1", "G1"])
def test_s2_group_ids_matches_reference(case):
    assert_close(ex.s2_group_ids(*case), ref.s2_group_ids(*case), "group ids")


@pytest.mark.points(2)
def test_s2_group_ids_shifted_groups_straddle_the_plain_borders():
    T, G = 16, 4
    plain, shifted = np.asarray(ex.s2_group_ids(T, G, False)), np.asarray(ex.s2_group_ids(T, G, True))
    for name, ids, first_border in (("plain", plain, G), ("shifted", shifted, G - G // 2)):
        steps = np.diff(ids)
        borders = np.flatnonzero(steps) + 1
        assert ids[0] == 0 and set(steps) <= {0, 1}, f"{name}: ids must start at 0, step by 0 or 1"
        assert list(borders) == list(range(first_border, T, G)), \
            f"{name}: a new group must start at {list(range(first_border, T, G))}, got {list(borders)}"


# ----- linformer_attention ---------------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("dims", [(8, 3, 4), (1, 2, 1), (6, 1, 6)], ids=["T8r4", "T1", "D1"])
def test_linformer_attention_matches_reference(rng, dims):
    T, D, r = dims
    q, k, v = (rng.standard_normal((T, D)) for _ in range(3))
    E, Fp = rng.standard_normal((r, T)), rng.standard_normal((r, T))
    assert_close(ex.linformer_attention(q, k, v, E, Fp), ref.linformer_attention(q, k, v, E, Fp), "y")


@pytest.mark.points(2)
def test_linformer_attention_by_the_formula_and_with_identity_projections(rng):
    T, D, r = 7, 3, 3
    q, k, v = (rng.standard_normal((T, D)) for _ in range(3))
    E, Fp = rng.standard_normal((r, T)), rng.standard_normal((r, T))
    want = softmax_rows(q @ (E @ k).T / np.sqrt(D)) @ (Fp @ v)
    assert_close(ex.linformer_attention(q, k, v, E, Fp), want, "y (vs the formula)")
    full = softmax_rows(q @ k.T / np.sqrt(D)) @ v
    assert_close(ex.linformer_attention(q, k, v, np.eye(T), np.eye(T)), full,
                 "y with E = F = I", note="(must be full softmax attention)")


# ----- kmeans_assign ---------------------------------------------------------------------

def unit_rows(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


@pytest.mark.points(1)
@pytest.mark.parametrize("dims", [(10, 3, 4), (1, 2, 1), (5, 1, 3)], ids=["T10", "T1", "D1"])
def test_kmeans_assign_matches_reference(rng, dims):
    T, c, D = dims
    x, mu = rng.standard_normal((T, D)), unit_rows(rng.standard_normal((c, D)))
    assert_close(ex.kmeans_assign(x, mu), ref.kmeans_assign(x, mu), "clusters")


@pytest.mark.points(2)
def test_kmeans_assign_uses_cosine_not_dot_product(rng):
    mu = unit_rows(np.array([[1.0, 0.0], [0.0, 1.0]]))
    x = np.array([[10.0, 1.0], [0.1, 0.2], [3.0, 2.9], [-1.0, 0.5]])
    assert_close(ex.kmeans_assign(x, mu), np.array([0, 1, 0, 1]), "clusters of hand-made rows")
    x, mu = 5 * rng.standard_normal((12, 3)), unit_rows(rng.standard_normal((4, 3)))
    want = [int(np.argmax([m @ row / np.linalg.norm(row) for m in mu])) for row in x]
    assert_close(ex.kmeans_assign(x, mu), np.array(want), "clusters (vs the cosine argmax)")


# ----- kmeans_ema_update -----------------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("decay", [0.9, 0.0, 0.5])
def test_kmeans_ema_update_matches_reference(rng, decay):
    mu, x = unit_rows(rng.standard_normal((3, 4))), rng.standard_normal((10, 4))
    clusters = rng.integers(0, 3, 10)
    assert_close(ex.kmeans_ema_update(mu, x, clusters, decay),
                 ref.kmeans_ema_update(mu, x, clusters, decay), "centroids")


@pytest.mark.points(2)
def test_kmeans_ema_update_by_the_definition_with_an_empty_cluster(rng):
    mu, x = unit_rows(rng.standard_normal((3, 2))), rng.standard_normal((6, 2))
    clusters = np.array([0, 0, 2, 0, 2, 2])  # cluster 1 is empty
    new = np.asarray(ex.kmeans_ema_update(mu, x, clusters, 0.7))
    for j in range(3):
        members = x[clusters == j]
        moved = 0.7 * mu[j] + 0.3 * members.mean(0) if len(members) else mu[j]
        assert_close(new[j], moved / np.linalg.norm(moved), f"centroid {j}",
                     note="(vs the EMA step, then unit length)")


# ----- probsparse_scores / top_u ---------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("dims", [(8, 3, 4), (1, 2, 1), (5, 1, 5)], ids=["T8", "T1U1", "D1"])
def test_probsparse_scores_matches_reference(rng, dims):
    T, D, U = dims
    q, ks = rng.standard_normal((T, D)), rng.standard_normal((U, D))
    assert_close(ex.probsparse_scores(q, ks), ref.probsparse_scores(q, ks), "M")


@pytest.mark.points(2)
def test_probsparse_scores_row_by_row(rng):
    q, ks = rng.standard_normal((6, 4)), rng.standard_normal((5, 4))
    want = [max(qi @ kj / 2.0 for kj in ks) - np.mean([qi @ kj / 2.0 for kj in ks]) for qi in q]
    assert_close(ex.probsparse_scores(q, ks), np.array(want), "M (vs max - mean, row by row)")


@pytest.mark.points(1)
@pytest.mark.parametrize("u", [1, 3, 8])
def test_probsparse_top_u_matches_reference(rng, u):
    q, ks = rng.standard_normal((8, 3)), rng.standard_normal((4, 3))
    assert_close(ex.probsparse_top_u(q, ks, u), ref.probsparse_top_u(q, ks, u), "active queries")


@pytest.mark.points(2)
def test_probsparse_top_u_picks_the_most_peaked_rows(rng):
    q, ks = rng.standard_normal((10, 3)), rng.standard_normal((6, 3))
    s = q @ ks.T / np.sqrt(3)
    score = s.max(1) - s.mean(1)
    got = np.asarray(ex.probsparse_top_u(q, ks, 4))
    want = sorted(i for i in range(10) if (score > score[i]).sum() < 4)
    assert_close(got, np.array(want), "active queries (the 4 largest M, increasing)")


# ----- monarch_multiply ------------------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("dims", [(3, 2), (2, 1), (1, 3)], ids=["b3", "b2C1", "b1"])
def test_monarch_multiply_matches_reference(rng, dims):
    b, C = dims
    x = rng.standard_normal((b * b, C))
    R, L = rng.standard_normal((b, b, b)), rng.standard_normal((b, b, b))
    assert_close(ex.monarch_multiply(x, R, L), ref.monarch_multiply(x, R, L), "y")


def dft_blocks(b):
    """The four-step FFT as Monarch blocks, written here: R[j2] = F_b and
    L[k1][k2, j2] = w_b^(k2 j2) w_n^(k1 j2), w_m = exp(-2 pi i / m)."""
    j = np.arange(b)
    Fb = np.exp(-2j * np.pi * np.outer(j, j) / b)
    R = np.stack([Fb] * b)
    L = np.stack([Fb * np.exp(-2j * np.pi * k1 * j / (b * b))[None, :] for k1 in range(b)])
    return R, L


@pytest.mark.points(3)
def test_monarch_multiply_of_the_dft_blocks_is_the_fft(rng):
    b = 4
    x = rng.standard_normal((b * b, 2)) + 1j * rng.standard_normal((b * b, 2))
    y = np.asarray(ex.monarch_multiply(x, *dft_blocks(b)))
    want = np.fft.fft(x, axis=0)
    assert_close(y.real, want.real, "Re(M x) with the DFT blocks", note="(vs np.fft.fft)")
    assert_close(y.imag, want.imag, "Im(M x) with the DFT blocks", note="(vs np.fft.fft)")


# ----- segment_max -----------------------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("case", [(8, 4), (7, 3), (2, 5), (4, 1)],
                         ids=["divides", "ragged", "one_segment", "seg1"])
def test_segment_max_matches_reference(rng, case):
    T, s = case
    x = rng.standard_normal((T, 3))
    assert_close(ex.segment_max(x, s), ref.segment_max(x, s), "pooled")


@pytest.mark.points(2)
def test_segment_max_by_brute_force_and_causal(rng):
    T, s = 11, 4
    x = rng.standard_normal((T, 2))
    want = np.stack([x[t - t % s:t + 1].max(0) for t in range(T)])
    got = np.asarray(ex.segment_max(x, s))
    assert_close(got, want, "pooled (vs the max over the segment so far)")
    x2 = x.copy()
    x2[6:] += 100.0
    assert_close(np.asarray(ex.segment_max(x2, s))[:6], got[:6],
                 "pooled[:6] after changing x[6:] (must be causal)")
