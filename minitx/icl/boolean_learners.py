"""Classical learners for Boolean functions, run online over every prefix of a prompt.

Every learner has the signature ``learner(xs, ys) -> pred`` with

    xs    (B, K, n)  the prompt's points, in {0, 1}
    ys    (B, K)     their labels, in {0, 1}
    pred  (B, K)     pred[:, k] = the learner's guess for f(x_{k+1}) after seeing
                     the first k labelled examples (x_1, y_1) .. (x_k, y_k) only

which is the layout a causal in-context learner predicts in.  Paper: "Understanding
In-Context Learning in Transformers and LLMs by Learning to Learn Discrete
Functions" (Bhattamishra et al.) compares the trained models with these:

* ``conjunction_elimination``: Valiant's algorithm.  Start from the AND of all 2n
  literals (it rejects everything); each positive example deletes the literals it
  makes false.  Never errs on a negative; sample-optimal up to constants, O(n) per step.
* ``disjunction_elimination``: the dual, start from the OR of all 2n literals and
  let each negative example delete the literals it makes true.
* ``gf2_elimination``: parities are linear over GF(2): keep the examples in row-echelon
  form (Gaussian elimination on bitmasks); a query in the span of the examples has a
  determined label, others are guessed 0 (right half of the time).  O(n) per step.
* ``version_space_vote``: the majority label over every hypothesis of a finite class
  consistent with the examples (Bayes-optimal for a uniform prior); used for sparse
  parities, whose class has only C(n, s) members.
* ``decision_list_greedy``: Rivest's learner: repeatedly take a literal whose covered
  examples all share a label, emit (literal, label), drop them.  O(n k) per rule.
* ``nearest_neighbour`` (Hamming, ties to the latest) and ``majority_label``: the
  model-free baselines.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np


def _check(xs, ys):
    xs, ys = np.asarray(xs, np.int64), np.asarray(ys, np.int64)
    if xs.ndim != 3 or ys.shape != xs.shape[:2]:
        raise ValueError(f"expected xs (B, K, n) and ys (B, K), got {xs.shape} and {ys.shape}")
    return xs, ys


def majority_label(xs, ys):
    """Predict the more frequent label seen so far (0 on ties and with no examples)."""
    xs, ys = _check(xs, ys)
    ones = np.cumsum(ys, axis=1) - ys                     # labels 1 among the first k
    seen = np.arange(ys.shape[1])[None, :]
    return (2 * ones > seen).astype(np.uint8)


def nearest_neighbour(xs, ys):
    """The label of the closest earlier point in Hamming distance (the latest on ties);
    0 with no examples."""
    xs, ys = _check(xs, ys)
    B, K, _ = xs.shape
    dist = np.abs(xs[:, :, None, :] - xs[:, None, :, :]).sum(-1).astype(np.float64)  # (B, K, K)
    dist = dist - 1e-3 * np.arange(K)[None, None, :]      # ties go to the later example
    dist[:, np.triu_indices(K)[0], np.triu_indices(K)[1]] = np.inf  # only earlier ones: j < k
    nearest = dist.argmin(-1)                              # (B, K)
    pred = np.take_along_axis(ys, nearest, axis=1).astype(np.uint8)
    pred[:, 0] = 0
    return pred


def conjunction_elimination(xs, ys):
    xs, ys = _check(xs, ys)
    B, K, n = xs.shape
    pos = np.ones((B, n), bool)                            # literal x_i still in the AND
    neg = np.ones((B, n), bool)                            # literal not-x_i still in the AND
    pred = np.zeros((B, K), np.uint8)
    for k in range(K):
        x = xs[:, k]
        pred[:, k] = np.all(~pos | (x == 1), 1) & np.all(~neg | (x == 0), 1)
        positive = (ys[:, k] == 1)[:, None]
        pos &= ~positive | (x == 1)
        neg &= ~positive | (x == 0)
    return pred


def disjunction_elimination(xs, ys):
    xs, ys = _check(xs, ys)
    B, K, n = xs.shape
    pos = np.ones((B, n), bool)                            # literal x_i still in the OR
    neg = np.ones((B, n), bool)
    pred = np.zeros((B, K), np.uint8)
    for k in range(K):
        x = xs[:, k]
        pred[:, k] = np.any(pos & (x == 1), 1) | np.any(neg & (x == 0), 1)
        negative = (ys[:, k] == 0)[:, None]
        pos &= ~negative | (x == 0)
        neg &= ~negative | (x == 1)
    return pred


def _reduce(v, lab, rows, labs, has, n):
    """Reduce bitmasks v (B,) by the echelon rows (pivot p: highest bit p); labels follow."""
    for bit in reversed(range(n)):
        hit = has[:, bit] & (((v >> bit) & 1) == 1)
        v = np.where(hit, v ^ rows[:, bit], v)
        lab = np.where(hit, lab ^ labs[:, bit], lab)
    return v, lab


def gf2_elimination(xs, ys):
    """Online Gaussian elimination over GF(2); exact once the examples span x_q."""
    xs, ys = _check(xs, ys)
    B, K, n = xs.shape
    if n > 62:
        raise ValueError(f"gf2_elimination packs x into int64 bitmasks: n must be <= 62, got {n}")
    masks = (xs << np.arange(n)).sum(-1)                   # (B, K) bit i = x_i
    rows = np.zeros((B, n), np.int64)                      # rows[:, p]: the row with pivot p
    labs = np.zeros((B, n), np.int64)
    has = np.zeros((B, n), bool)
    pred = np.zeros((B, K), np.uint8)
    batch = np.arange(B)
    for k in range(K):
        v, lab = _reduce(masks[:, k], np.zeros(B, np.int64), rows, labs, has, n)
        pred[:, k] = np.where(v == 0, lab, 0)              # determined iff x_q in the span
        lab = lab ^ ys[:, k]                               # the reduced row's label
        new = v != 0
        pivot = np.where(new, np.floor(np.log2(np.maximum(v, 1))).astype(np.int64), 0)
        rows[batch[new], pivot[new]] = v[new]
        labs[batch[new], pivot[new]] = lab[new]
        has[batch[new], pivot[new]] = True
    return pred


def parity_hypotheses(n, size):
    """(M, n) 0/1 masks of every parity on exactly ``size`` of the n variables."""
    out = np.zeros((len(list(combinations(range(n), size))), n), np.int64)
    for m, subset in enumerate(combinations(range(n), size)):
        out[m, list(subset)] = 1
    return out


def version_space_vote(xs, ys, labels_fn):
    """Majority vote of the hypotheses consistent with all earlier examples (0 on ties).
    ``labels_fn(xs) -> (B, K, M)`` labels every point under each of M hypotheses."""
    xs, ys = _check(xs, ys)
    H = labels_fn(xs)                                      # (B, K, M)
    wrong = (H != ys[:, :, None]).astype(np.int64)
    alive = (np.cumsum(wrong, axis=1) - wrong) == 0        # consistent with examples < k
    votes = (alive * H).sum(-1)
    return (2 * votes > alive.sum(-1)).astype(np.uint8)


def sparse_parity_vote(xs, ys, sparsity=2):
    n = np.asarray(xs).shape[2]
    H = parity_hypotheses(n, sparsity)
    return version_space_vote(xs, ys, lambda x: (np.asarray(x, np.int64) @ H.T) % 2)


def _greedy_rules(X, y, n):
    """Rivest's greedy decision-list fit to (X (k, n), y (k,)); returns [(i, bit, label)] and
    the default label.  Among the pure literals it takes the one covering most examples."""
    cover = np.concatenate([X.T == 1, X.T == 0])           # (2n, k): literal j covers example
    rules, alive = [], np.ones(len(y), bool)
    while alive.any():
        cov = cover & alive
        count, ones = cov.sum(1), (cov & (y == 1)).sum(1)
        pure = (count > 0) & ((ones == 0) | (ones == count))
        if not pure.any():  # no pure literal: the data is not a decision list
            break
        j = int(np.argmax(np.where(pure, count, -1)))
        rules.append((j % n, 1 - j // n, int(ones[j] > 0)))
        alive &= ~cover[j]
    default = int(2 * y[alive].sum() > alive.sum()) if alive.any() else int(2 * y.sum() > len(y))
    return rules, default


def decision_list_greedy(xs, ys):
    xs, ys = _check(xs, ys)
    B, K, n = xs.shape
    pred = np.zeros((B, K), np.uint8)
    for b in range(B):
        for k in range(1, K):
            rules, label = _greedy_rules(xs[b, :k], ys[b, :k], n)
            for i, bit, out in rules:
                if xs[b, k, i] == bit:
                    label = out
                    break
            pred[b, k] = label
    return pred


OPTIMAL = {"conjunction": ("elimination", conjunction_elimination),
           "disjunction": ("elimination", disjunction_elimination),
           "parity": ("GF(2) elimination", gf2_elimination),
           "sparse_parity": ("version-space vote", sparse_parity_vote),
           "decision_list": ("greedy decision list", decision_list_greedy)}


def accuracy_curve(pred, ys) -> np.ndarray:
    """Accuracy at each position k (over the batch): (K,)."""
    return (np.asarray(pred) == np.asarray(ys)).mean(0)


def novel_queries(xs) -> np.ndarray:
    """(B, K) bool: x_k differs from every earlier point of its prompt (a learner cannot
    just look its label up)."""
    xs = np.asarray(xs)
    same = np.all(xs[:, :, None, :] == xs[:, None, :, :], axis=-1)   # (B, K, K)
    earlier = np.tril(np.ones(same.shape[1:], bool), k=-1)            # j < k
    return ~np.any(same & earlier, axis=-1)


def novel_accuracy(pred, ys, xs, from_k=0) -> float:
    """Accuracy over the positions k >= from_k whose query is novel (``novel_queries``)."""
    mask = novel_queries(xs)
    mask[:, :from_k] = False
    return float((np.asarray(pred) == np.asarray(ys))[mask].mean())
