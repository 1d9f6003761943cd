"""In-context learning of Boolean functions: every prompt is a fresh function f.

Paper: "Understanding In-Context Learning in Transformers and LLMs by Learning to
Learn Discrete Functions" (Bhattamishra, Patel, Blunsom, Kanade).  A prompt draws
one f from a class and points x_1 .. x_K in {0,1}^n, and the model predicts
f(x_i) from x_i and the i - 1 labelled examples before it:

    x_1, f(x_1), x_2, f(x_2), ..., f(x_{K-1}), x_K       2K - 1 tokens of width n + 1
    x token = [2 x - 1, 0],   y token = [0 .. 0, 2 f(x) - 1]   (bits written as -1/+1)

Classes and their sampling (the paper's, where it states one; ours otherwise):

* ``conjunction``: each variable enters with probability 0.3, as x_i or not-x_i
  with equal odds; f = AND of the literals.  Uniform inputs would almost never
  satisfy it, so each point is, with probability ``positive_rate`` = 0.3,
  overwritten on the conjunction's variables to satisfy it (a positive example).
* ``disjunction``: the same literals, f = OR; with probability 0.3 a point is
  overwritten to falsify every literal (a negative example).
* ``parity``: a uniformly random subset S of all n variables, f = XOR of x_S
  (any of the 2^n parities); inputs uniform.
* ``sparse_parity``: S of exactly ``sparsity`` = 2 variables; inputs uniform.
* ``majority``: each variable enters S with probability 0.3, f = 1 iff more than
  half of x_S are 1 (S empty: f = 0); inputs uniform.
* ``decision_list`` (ours): ``list_length`` = 3 rules "if literal_j then b_j" on
  distinct variables and a default bit; f is the bit of the first rule that fires.
  Inputs uniform (each rule fires on half of what reaches it).

A function is a ``BooleanFunctions`` batch: ``lits`` (B, n) in {-1, 0, +1} for
conjunctions and disjunctions (+1: x_i, -1: not x_i), ``mask`` (B, n) in {0, 1} for
parities and majorities, and ``var``, ``sign``, ``out`` for decision lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CLASSES = ("conjunction", "disjunction", "decision_list", "sparse_parity", "parity", "majority")


def check_class(name: str) -> str:
    if name not in CLASSES:
        raise ValueError(f"unknown Boolean function class {name!r} "
                         f"(accepted: {', '.join(CLASSES)})")
    return name


@dataclass(frozen=True)
class BooleanFunctions:
    """A batch of B functions of one class over n variables."""

    kind: str
    n_dims: int
    params: dict = field(default_factory=dict)

    def __call__(self, xs) -> np.ndarray:
        """xs (B, K, n) in {0, 1} -> labels (B, K) in {0, 1}."""
        return evaluate(self, xs)


@dataclass(frozen=True)
class BooleanPrompts:
    """xs (B, K, n) and ys (B, K), both uint8 in {0, 1}; ``functions`` labelled them."""

    xs: np.ndarray
    ys: np.ndarray
    functions: BooleanFunctions

    def tokens(self) -> np.ndarray:
        """The interleaved token sequence (B, 2K - 1, n + 1), float32, bits as -1/+1."""
        return interleave(self.xs, self.ys)


def interleave(xs, ys) -> np.ndarray:
    B, K, n = xs.shape
    tokens = np.zeros((B, 2 * K - 1, n + 1), np.float32)
    tokens[:, 0::2, :n] = 2.0 * xs - 1.0                       # x tokens
    tokens[:, 1::2, n] = 2.0 * ys[:, :K - 1] - 1.0            # y tokens
    return tokens


# ----- sampling functions ----------------------------------------------------------
def _literals(batch, n, rng, p_var=0.3):
    """(B, n) in {-1, 0, +1}: each variable kept with probability p_var, sign a fair coin."""
    keep = rng.random((batch, n)) < p_var
    sign = np.where(rng.random((batch, n)) < 0.5, 1, -1)
    return (keep * sign).astype(np.int8)


def _subset_mask(batch, n, rng, size):
    """(B, n) 0/1 masks with exactly ``size`` ones, uniformly placed."""
    order = np.argsort(rng.random((batch, n)), axis=1)
    mask = np.zeros((batch, n), np.uint8)
    np.put_along_axis(mask, order[:, :size], 1, axis=1)
    return mask


def sample_functions(kind: str, batch: int, n_dims: int, rng, sparsity: int = 2,
                     list_length: int = 3) -> BooleanFunctions:
    check_class(kind)
    if n_dims < 1:
        raise ValueError(f"n_dims must be >= 1, got {n_dims}")
    if kind in ("conjunction", "disjunction"):
        return BooleanFunctions(kind, n_dims, {"lits": _literals(batch, n_dims, rng)})
    if kind == "parity":
        mask = (rng.random((batch, n_dims)) < 0.5).astype(np.uint8)  # uniform over all 2^n
        return BooleanFunctions(kind, n_dims, {"mask": mask})
    if kind == "sparse_parity":
        if not 1 <= sparsity <= n_dims:
            raise ValueError(f"sparsity must be in [1, n_dims={n_dims}], got {sparsity}")
        return BooleanFunctions(kind, n_dims, {"mask": _subset_mask(batch, n_dims, rng, sparsity)})
    if kind == "majority":
        return BooleanFunctions(kind, n_dims,
                                {"mask": (rng.random((batch, n_dims)) < 0.3).astype(np.uint8)})
    if not 1 <= list_length <= n_dims:
        raise ValueError(f"list_length must be in [1, n_dims={n_dims}], got {list_length}")
    var = np.argsort(rng.random((batch, n_dims)), axis=1)[:, :list_length]
    sign = rng.integers(0, 2, (batch, list_length)).astype(np.uint8)  # rule fires iff x_var == sign
    out = rng.integers(0, 2, (batch, list_length + 1)).astype(np.uint8)  # last: the default
    return BooleanFunctions(kind, n_dims, {"var": var, "sign": sign, "out": out})


# ----- evaluating functions ----------------------------------------------------------
def evaluate(f: BooleanFunctions, xs) -> np.ndarray:
    """Labels (B, K) in {0, 1} of points xs (B, K, n) in {0, 1}."""
    xs = np.asarray(xs, np.int64)
    if xs.ndim != 3 or xs.shape[2] != f.n_dims:
        raise ValueError(f"evaluate: expected xs (B, K, {f.n_dims}), got {xs.shape}")
    if f.kind in ("conjunction", "disjunction"):
        lits = f.params["lits"][:, None, :]                     # (B, 1, n)
        true = np.where(lits > 0, xs == 1, xs == 0)             # (B, K, n) literal values
        if f.kind == "conjunction":
            return np.all(true | (lits == 0), axis=2).astype(np.uint8)
        return np.any(true & (lits != 0), axis=2).astype(np.uint8)
    if f.kind in ("parity", "sparse_parity"):
        return (np.einsum("bkn,bn->bk", xs, f.params["mask"].astype(np.int64)) % 2).astype(np.uint8)
    if f.kind == "majority":
        mask = f.params["mask"].astype(np.int64)
        ones = np.einsum("bkn,bn->bk", xs, mask)
        return (2 * ones > mask.sum(1)[:, None]).astype(np.uint8)
    return _decision_list(f.params, xs)


def _decision_list(params, xs):
    var, sign, out = params["var"], params["sign"], params["out"]
    B, K, _ = xs.shape
    label = np.repeat(out[:, -1:], K, axis=1).astype(np.uint8)  # the default
    for j in reversed(range(var.shape[1])):                     # earlier rules override later
        bit = np.take_along_axis(xs, var[:, None, j:j + 1].repeat(K, axis=1), axis=2)[..., 0]
        fires = bit == sign[:, j:j + 1]
        label = np.where(fires, out[:, j:j + 1], label)
    return label


# ----- prompts -------------------------------------------------------------------
def sample_inputs(f: BooleanFunctions, n_points: int, rng, positive_rate: float = 0.3):
    """Points (B, K, n) uniform on {0,1}^n; for conjunctions (disjunctions) each point is,
    with probability positive_rate, set on the literals' variables to satisfy (falsify) f."""
    lits = f.params.get("lits")
    B = (lits if lits is not None else next(iter(f.params.values()))).shape[0]
    xs = rng.integers(0, 2, (B, n_points, f.n_dims)).astype(np.uint8)
    if f.kind in ("conjunction", "disjunction"):
        force = (rng.random((B, n_points)) < positive_rate)[..., None]   # (B, K, 1)
        value = (lits > 0) if f.kind == "conjunction" else (lits < 0)     # literal made true/false
        xs = np.where(force & (lits != 0)[:, None, :], value[:, None, :], xs).astype(np.uint8)
    return xs


def make_prompts(kind: str, batch: int, n_points: int, n_dims: int, rng,
                 positive_rate: float = 0.3, **options) -> BooleanPrompts:
    """``batch`` prompts of ``n_points`` labelled points of fresh functions of class ``kind``."""
    if n_points < 1 or batch < 1:
        raise ValueError(f"make_prompts: batch and n_points must be >= 1, got {batch}, {n_points}")
    f = sample_functions(kind, batch, n_dims, rng, **options)
    xs = sample_inputs(f, n_points, rng, positive_rate)
    return BooleanPrompts(xs, evaluate(f, xs), f)
