"""Boolean in-context prompts and the classical learners: labels by brute force, sampling,
determinism, and each learner doing what its algorithm promises."""

import numpy as np
import pytest

from minitx.icl import boolean_learners as L
from minitx.tasks import boolean as bt


def _brute_label(f, b, x):
    """f_b(x) written out from the definitions, one point at a time."""
    p = {k: v[b] for k, v in f.params.items()}
    if f.kind in ("conjunction", "disjunction"):
        values = [x[i] == 1 if lit > 0 else x[i] == 0 for i, lit in enumerate(p["lits"]) if lit]
        return int(all(values)) if f.kind == "conjunction" else int(any(values))
    if f.kind in ("parity", "sparse_parity"):
        return sum(int(x[i]) for i in range(len(x)) if p["mask"][i]) % 2
    if f.kind == "majority":
        chosen = [int(x[i]) for i in range(len(x)) if p["mask"][i]]
        return int(sum(chosen) > len(chosen) - sum(chosen))
    for var, sign, out in zip(p["var"], p["sign"], p["out"]):
        if x[var] == sign:
            return int(out)
    return int(p["out"][-1])


@pytest.mark.parametrize("kind", bt.CLASSES)
def test_labels_match_brute_force(kind):
    p = bt.make_prompts(kind, 12, 9, 6, np.random.default_rng(3))
    assert p.xs.shape == (12, 9, 6) and p.ys.shape == (12, 9)
    for b in range(12):
        for k in range(9):
            assert p.ys[b, k] == _brute_label(p.functions, b, p.xs[b, k]), (kind, b, k)


def test_token_layout_and_determinism():
    a = bt.make_prompts("conjunction", 3, 5, 4, np.random.default_rng(7))
    b = bt.make_prompts("conjunction", 3, 5, 4, np.random.default_rng(7))
    c = bt.make_prompts("conjunction", 3, 5, 4, np.random.default_rng(8))
    np.testing.assert_array_equal(a.tokens(), b.tokens())
    assert not np.array_equal(a.xs, c.xs)
    t = a.tokens()
    assert t.shape == (3, 9, 5) and t.dtype == np.float32
    np.testing.assert_array_equal(t[:, 0::2, :4], 2.0 * a.xs - 1)
    np.testing.assert_array_equal(t[:, 1::2, 4], 2.0 * a.ys[:, :4] - 1)
    assert np.all(t[:, 0::2, 4] == 0) and np.all(t[:, 1::2, :4] == 0)


def test_conjunction_sampling_forces_positives_and_disjunction_negatives():
    """The paper's sampler: with probability 0.3 a point is set to satisfy the conjunction
    (falsify the disjunction), so both labels occur although uniform points rarely do."""
    rng = np.random.default_rng(0)
    conj = bt.make_prompts("conjunction", 400, 40, 20, rng)
    forced = bt.make_prompts("conjunction", 400, 40, 20, rng, positive_rate=0.0)
    assert 0.3 <= conj.ys.mean() <= 0.45 and forced.ys.mean() < 0.1
    disj = bt.make_prompts("disjunction", 400, 40, 20, rng)
    assert 0.3 <= 1 - disj.ys.mean() <= 0.45
    lits = conj.functions.params["lits"]
    assert 0.25 < np.mean(lits != 0) < 0.35 and abs(np.mean(lits[lits != 0] > 0) - 0.5) < 0.05


def test_bad_inputs_name_the_value():
    with pytest.raises(ValueError, match="xor.*accepted"):
        bt.make_prompts("xor", 2, 3, 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match="sparsity"):
        bt.make_prompts("sparse_parity", 2, 3, 4, np.random.default_rng(0), sparsity=5)
    with pytest.raises(ValueError, match="expected xs"):
        L.majority_label(np.zeros((2, 3)), np.zeros((2, 3)))


def test_majority_and_nearest_neighbour_match_brute_force():
    p = bt.make_prompts("majority", 6, 12, 5, np.random.default_rng(1))
    maj, nn = L.majority_label(p.xs, p.ys), L.nearest_neighbour(p.xs, p.ys)
    for b in range(6):
        for k in range(12):
            ones = int(p.ys[b, :k].sum())
            assert maj[b, k] == int(ones > k - ones)
            if k:
                d = [int(np.abs(p.xs[b, j].astype(int) - p.xs[b, k]).sum()) for j in range(k)]
                j = max(i for i in range(k) if d[i] == min(d))  # the latest of the nearest
                assert nn[b, k] == p.ys[b, j]


def test_elimination_never_errs_on_the_safe_side_and_converges():
    """Elimination keeps a conjunction that implies the target: it never calls a negative
    point positive; the disjunction learner never calls a positive negative."""
    rng = np.random.default_rng(2)
    c = bt.make_prompts("conjunction", 300, 60, 8, rng)
    pred = L.conjunction_elimination(c.xs, c.ys)
    assert not np.any((pred == 1) & (c.ys == 0))
    d = bt.make_prompts("disjunction", 300, 60, 8, rng)
    pred_d = L.disjunction_elimination(d.xs, d.ys)
    assert not np.any((pred_d == 0) & (d.ys == 1))
    assert L.accuracy_curve(pred, c.ys)[-10:].mean() > 0.97
    assert L.accuracy_curve(pred_d, d.ys)[-10:].mean() > 0.97


def test_gf2_elimination_recovers_a_parity_exactly():
    """Once n independent examples are in, every label is determined: accuracy 1."""
    rng = np.random.default_rng(4)
    p = bt.make_prompts("parity", 200, 40, 8, rng)
    pred = L.gf2_elimination(p.xs, p.ys)
    assert np.all(pred[:, 30:] == p.ys[:, 30:])
    # a query in the GF(2) span of the earlier points (brute force) is never mispredicted
    in_span = wrong_in_span = 0
    for b in range(20):
        for k in range(1, 12):
            if _in_gf2_span(p.xs[b, :k].astype(int), p.xs[b, k].astype(int)):
                in_span += 1
                wrong_in_span += int(pred[b, k] != p.ys[b, k])
    assert in_span > 20 and wrong_in_span == 0


def _in_gf2_span(rows, x):
    """Brute force: is x a XOR of some subset of rows? (few rows only)"""
    k = len(rows)
    for subset in range(1 << k):
        acc = np.zeros_like(x, dtype=int)
        for j in range(k):
            if subset >> j & 1:
                acc ^= rows[j]
        if np.array_equal(acc, x):
            return 1
    return 0


def test_version_space_vote_identifies_sparse_parity():
    p = bt.make_prompts("sparse_parity", 200, 30, 6, np.random.default_rng(5))
    pred = L.sparse_parity_vote(p.xs, p.ys, sparsity=2)
    assert L.accuracy_curve(pred, p.ys)[-5:].mean() > 0.99
    assert len(L.parity_hypotheses(6, 2)) == 15


def test_greedy_decision_list_fits_its_examples_and_generalises():
    p = bt.make_prompts("decision_list", 40, 30, 6, np.random.default_rng(6))
    for b in range(10):
        rules, default = L._greedy_rules(p.xs[b, :20].astype(int), p.ys[b, :20].astype(int), 6)
        for x, y in zip(p.xs[b, :20], p.ys[b, :20]):
            label = next((out for i, bit, out in rules if x[i] == bit), default)
            assert label == y
    pred = L.decision_list_greedy(p.xs, p.ys)
    assert L.accuracy_curve(pred, p.ys)[-5:].mean() > 0.85


def test_novel_queries_by_brute_force():
    p = bt.make_prompts("parity", 5, 20, 3, np.random.default_rng(9))
    mask = L.novel_queries(p.xs)
    for b in range(5):
        for k in range(20):
            seen = any(np.array_equal(p.xs[b, j], p.xs[b, k]) for j in range(k))
            assert mask[b, k] == (not seen)
