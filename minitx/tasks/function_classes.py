"""Function classes for in-context regression, and mixtures of them.

Paper: "Pretraining Data Mixtures Enable Narrow Model Selection Capabilities in
Transformer Models" (Yadlowsky, Doshi & Tripuraneni) trains transformers on
(x, f(x)) sequences where f is drawn from a mixture of families (dense linear,
sparse linear and non-linear ones) and asks whether the model first identifies
the family in context and then learns within it.  The families here:

    dense      f(x) = w . x,  w ~ N(0, I_d)
    sparse     f(x) = w . x,  w has ``nnz`` non-zero coordinates on a uniformly random
               support, each N(0, d / nnz)
    relu_net   f(x) = sum_j a_j relu(v_j . x),  v_j ~ N(0, I_d), a_j ~ N(0, 2 / hidden)
               (the two-layer ReLU networks of Garg et al., "What Can Transformers Learn
               In-Context?")
    sinusoid   f(x) = sqrt(2 d) sin(omega u . x),  u ~ N(0, I_d / d)

Scales are chosen (our choice) so every family has E[f(x)^2] close to d when
x ~ N(0, I_d): the sparse weights are scaled up by sqrt(d / nnz), so the size of
the labels alone does not give the family away, and errors divided by d read
the same on every family (the zero predictor scores about 1).

Prompts use the token layout of ``minitx.tasks.icl`` (x_1, y_1, ..., x_K, each
token of width d + 1).  Every function takes a ``numpy.random.Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import icl

CLASSES = ("dense", "sparse", "relu_net", "sinusoid")


@dataclass(frozen=True)
class FunctionPrompts:
    """A batch of prompts.  xs (B, K, d), ys (B, K); ws (B, d) the linear weights (zeros for
    the non-linear families); support (B, d) bool, the coordinates f depends on linearly
    (all True for dense, the support for sparse, all False for non-linear); kinds (B,) the
    family of each prompt."""

    xs: np.ndarray
    ys: np.ndarray
    ws: np.ndarray
    support: np.ndarray
    kinds: np.ndarray

    @property
    def dim(self) -> int:
        return self.xs.shape[-1]

    def tokens(self) -> np.ndarray:
        """(B, 2K - 1, d + 1): x_1, y_1, ..., x_K (``minitx.tasks.icl.interleave``)."""
        return icl.interleave(self.xs, self.ys)

    def __len__(self) -> int:
        return self.xs.shape[0]


def dense_weights(batch: int, dim: int, rng: np.random.Generator, w_scale: float = 1.0):
    """w ~ N(0, w_scale^2 I_d): (batch, dim)."""
    return icl.sample_weights(batch, dim, rng, w_scale)


def sparse_weights(batch: int, dim: int, nnz: int, rng: np.random.Generator,
                   w_scale: float = 1.0):
    """(weights (batch, dim), support (batch, dim) bool): ``nnz`` non-zero coordinates per row,
    each N(0, w_scale^2 dim / nnz), on a support drawn uniformly without replacement."""
    if not 1 <= nnz <= dim:
        raise ValueError(f"function_classes: nnz must be in [1, dim={dim}], got {nnz}")
    order = np.argsort(rng.random((batch, dim)), axis=1)  # a random permutation per row
    support = np.zeros((batch, dim), dtype=bool)
    np.put_along_axis(support, order[:, :nnz], True, axis=1)
    w = icl.sample_weights(batch, dim, rng, w_scale * np.sqrt(dim / nnz))
    return np.where(support, w, 0.0), support


def relu_net_values(xs, rng: np.random.Generator, hidden: int = 100, w_scale: float = 1.0):
    """f(x) = sum_j a_j relu(v_j . x) with a fresh network per prompt: xs (B, K, d) -> (B, K)."""
    if hidden < 1:
        raise ValueError(f"function_classes: hidden must be >= 1, got {hidden}")
    B, _, d = xs.shape
    v = rng.standard_normal((B, hidden, d))
    a = w_scale * rng.standard_normal((B, hidden)) * np.sqrt(2.0 / hidden)
    pre = np.einsum("bkd,bhd->bkh", xs, v)  # (B, K, hidden)
    return np.einsum("bkh,bh->bk", np.maximum(pre, 0.0), a)


def sinusoid_values(xs, rng: np.random.Generator, omega: float = 2.0, w_scale: float = 1.0):
    """f(x) = w_scale sqrt(2 d) sin(omega u . x), u ~ N(0, I_d / d): xs (B, K, d) -> (B, K)."""
    if not omega > 0:
        raise ValueError(f"function_classes: omega must be > 0, got {omega}")
    B, _, d = xs.shape
    u = rng.standard_normal((B, d)) / np.sqrt(d)
    return w_scale * np.sqrt(2.0 * d) * np.sin(omega * np.einsum("bkd,bd->bk", xs, u))


def _check_kind(kind):
    if kind not in CLASSES:
        raise ValueError(f"function_classes: unknown class {kind!r} (accepted: "
                         f"{', '.join(CLASSES)})")


def function_values(kind: str, xs, rng: np.random.Generator, *, nnz: int = 1, hidden: int = 100,
                    omega: float = 2.0, w_scale: float = 1.0):
    """Draw one function of family ``kind`` per prompt and evaluate it on xs (B, K, d).
    Returns (ys (B, K), ws (B, d), support (B, d) bool); ``w_scale`` multiplies f."""
    _check_kind(kind)
    B, _, d = xs.shape
    if kind == "dense":
        ws, support = dense_weights(B, d, rng, w_scale), np.ones((B, d), dtype=bool)
    elif kind == "sparse":
        ws, support = sparse_weights(B, d, nnz, rng, w_scale)
    else:
        ws, support = np.zeros((B, d)), np.zeros((B, d), dtype=bool)
    if kind in ("dense", "sparse"):
        ys = np.einsum("bkd,bd->bk", xs, ws)  # y_i = w . x_i
    elif kind == "relu_net":
        ys = relu_net_values(xs, rng, hidden, w_scale)
    else:
        ys = sinusoid_values(xs, rng, omega, w_scale)
    return ys, ws, support


def _check_sizes(batch, n_points, dim, noise_std):
    if batch < 1 or n_points < 1 or dim < 1:
        raise ValueError(f"function_classes: batch, n_points and dim must be >= 1, got {batch}, "
                         f"{n_points}, {dim}")
    if noise_std < 0:
        raise ValueError(f"function_classes: noise_std must be >= 0, got {noise_std}")


def make_prompts(kind: str, batch: int, n_points: int, dim: int, rng: np.random.Generator, *,
                 noise_std: float = 0.0, **options) -> FunctionPrompts:
    """``batch`` prompts of ``n_points`` points, x ~ N(0, I_d), from one family (see the module
    docstring); ``options`` (nnz, hidden, omega, w_scale) go to ``function_values``."""
    _check_kind(kind)
    _check_sizes(batch, n_points, dim, noise_std)
    xs = icl.sample_inputs(batch, n_points, dim, rng)
    ys, ws, support = function_values(kind, xs, rng, **options)
    if noise_std > 0:
        ys = ys + noise_std * rng.standard_normal(ys.shape)
    return FunctionPrompts(xs, ys, ws, support, np.full(batch, kind))


def make_convex_combination(kind_a: str, kind_b: str, alpha: float, batch: int, n_points: int,
                            dim: int, rng: np.random.Generator, **options) -> FunctionPrompts:
    """f = alpha f_a + (1 - alpha) f_b with f_a from family kind_a and f_b from kind_b, both
    fresh per prompt and evaluated on the same x ~ N(0, I_d)."""
    if not 0 <= alpha <= 1:
        raise ValueError(f"function_classes: alpha must be in [0, 1], got {alpha}")
    _check_sizes(batch, n_points, dim, 0.0)
    xs = icl.sample_inputs(batch, n_points, dim, rng)
    ya, wa, sa = function_values(kind_a, xs, rng, **options)
    yb, wb, sb = function_values(kind_b, xs, rng, **options)
    return FunctionPrompts(xs, alpha * ya + (1 - alpha) * yb, alpha * wa + (1 - alpha) * wb,
                           sa | sb, np.full(batch, f"{alpha:g} {kind_a} + {1 - alpha:g} {kind_b}"))


def make_mixture(weights: dict, batch: int, n_points: int, dim: int,
                 rng: np.random.Generator, **options) -> FunctionPrompts:
    """Each prompt's family drawn independently with probability ``weights[kind]`` (weights are
    normalised), e.g. {"dense": 0.5, "sparse": 0.5}; ``options`` go to ``make_prompts``."""
    names = list(weights)
    p = np.asarray([weights[n] for n in names], dtype=np.float64)
    if not names or np.any(p < 0) or p.sum() <= 0:
        raise ValueError(f"function_classes: mixture weights must be >= 0 with a positive sum, "
                         f"got {weights}")
    for name in names:
        _check_kind(name)
    which = rng.choice(len(names), size=batch, p=p / p.sum())
    parts = [(np.flatnonzero(which == i), name) for i, name in enumerate(names)]
    built = [(idx, make_prompts(name, len(idx), n_points, dim, rng, **options))
             for idx, name in parts if len(idx)]
    return concat_prompts(built, batch)


def concat_prompts(pieces, batch: int) -> FunctionPrompts:
    """Scatter [(row indices, FunctionPrompts)] into one batch of ``batch`` prompts."""
    first = pieces[0][1]
    out = {f: np.empty((batch,) + getattr(first, f).shape[1:], getattr(first, f).dtype)
           for f in ("xs", "ys", "ws", "support")}
    out["kinds"] = np.empty(batch, dtype=object)
    for idx, p in pieces:
        for f in out:
            out[f][idx] = getattr(p, f)
    out["kinds"] = out["kinds"].astype(str)
    return FunctionPrompts(**out)
