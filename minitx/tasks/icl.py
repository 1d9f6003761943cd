"""In-context linear regression prompts: every prompt is a fresh linear function.

A prompt draws one weight vector w and points x_1 .. x_K, and labels them
y_i = w . x_i (+ noise).  A model sees the examples one after another and must
predict y_i from x_i and the i - 1 labelled examples before it, so one prompt
of K points is K regression problems with 0, 1, ..., K - 1 examples.

Two layouts of the same data:

* token sequence (the GPT-style learner; "What Can Transformers Learn
  In-Context? A Case Study of Simple Function Classes", Garg et al.)::

      x_1, y_1, x_2, y_2, ..., y_{K-1}, x_K         2K - 1 tokens of width d + 1
      x token = [x_1 .. x_d, 0],   y token = [0 .. 0, y]

  Garg et al. write y as [y, 0 .. 0] and Akyurek et al. ("What learning
  algorithm is in-context learning?") write [0, x] and [y, 0 .. 0]; the three
  layouts differ by a fixed permutation of coordinates, which a linear read-in
  absorbs.  The prompt (x_1, y_1, .., x_k, y_k, x_q) is the prefix that ends at
  x token k + 1, so a causal model reads all K problems in one pass.

* embedding matrix of one linear self-attention layer ("Trained Transformers
  Learn Linear Models In-Context", Zhang, Frei & Bartlett)::

      E = [[x_1 .. x_N  x_q],
           [y_1 .. y_N  0  ]]                      shape (d + 1, N + 1)

Distribution (defaults follow both papers): x ~ N(0, I_d), w ~ N(0, I_d),
noise ~ N(0, noise_std^2).  Shifts for robustness tests: ``x_scale`` (x ~ N(0,
x_scale^2 I)), ``x_cov`` (x ~ N(0, x_cov)), ``w_scale`` (w ~ N(0, w_scale^2 I)).
``active_dims`` zeroes x coordinates past the first ``active_dims`` (Garg et
al.'s dimension curriculum).  Every function takes a ``numpy.random.Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Prompts:
    """A batch of regression prompts.  xs (B, K, d), ys (B, K), ws (B, d)."""

    xs: np.ndarray
    ys: np.ndarray
    ws: np.ndarray

    @property
    def dim(self) -> int:
        return self.xs.shape[-1]

    def tokens(self) -> np.ndarray:
        """The interleaved token sequence (B, 2K - 1, d + 1): x_1, y_1, ..., x_K."""
        return interleave(self.xs, self.ys)

    def split(self, k: int):
        """(context xs (B, k, d), context ys (B, k), query xs (B, d), query ys (B,))."""
        if not 0 <= k < self.xs.shape[1]:
            raise ValueError(f"Prompts.split: k must be in [0, {self.xs.shape[1] - 1}], got {k}")
        return self.xs[:, :k], self.ys[:, :k], self.xs[:, k], self.ys[:, k]


def _check_positive(name, value):
    if not value > 0:
        raise ValueError(f"icl: {name} must be > 0, got {value}")


def sample_weights(batch: int, dim: int, rng: np.random.Generator, w_scale: float = 1.0):
    """w ~ N(0, w_scale^2 I_d), shape (batch, dim)."""
    _check_positive("w_scale", w_scale)
    return w_scale * rng.standard_normal((batch, dim))


def sample_inputs(batch: int, n_points: int, dim: int, rng: np.random.Generator,
                  x_scale: float = 1.0, x_cov=None, active_dims: int | None = None):
    """x ~ N(0, x_scale^2 * x_cov) (x_cov = I when None), shape (batch, n_points, dim);
    coordinates past ``active_dims`` are set to 0."""
    _check_positive("x_scale", x_scale)
    x = rng.standard_normal((batch, n_points, dim))
    if x_cov is not None:
        x = x @ covariance_root(x_cov, dim).T  # rows of x now have covariance x_cov
    x *= x_scale
    if active_dims is not None:
        if not 1 <= active_dims <= dim:
            raise ValueError(f"icl: active_dims must be in [1, {dim}], got {active_dims}")
        x[..., active_dims:] = 0.0
    return x


def covariance_root(cov, dim: int) -> np.ndarray:
    """A matrix R with R R^T = cov (Cholesky); cov must be symmetric positive definite."""
    cov = np.asarray(cov, dtype=np.float64)
    if cov.shape != (dim, dim):
        raise ValueError(f"icl: x_cov must have shape ({dim}, {dim}), got {cov.shape}")
    if not np.allclose(cov, cov.T):
        raise ValueError("icl: x_cov must be symmetric")
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise ValueError("icl: x_cov must be positive definite "
                         f"(eigenvalues {np.linalg.eigvalsh(cov).round(4)})") from None


def make_prompts(batch: int, n_points: int, dim: int, rng: np.random.Generator, *,
                 noise_std: float = 0.0, x_scale: float = 1.0, x_cov=None, w_scale: float = 1.0,
                 active_dims: int | None = None) -> Prompts:
    """``batch`` prompts of ``n_points`` examples each: y = w . x + noise_std * eps."""
    if batch < 1 or n_points < 1 or dim < 1:
        raise ValueError(f"icl: batch, n_points and dim must be >= 1, got {batch}, {n_points}, "
                         f"{dim}")
    if noise_std < 0:
        raise ValueError(f"icl: noise_std must be >= 0, got {noise_std}")
    ws = sample_weights(batch, dim, rng, w_scale)
    xs = sample_inputs(batch, n_points, dim, rng, x_scale, x_cov, active_dims)
    ys = np.einsum("bkd,bd->bk", xs, ws)  # y_i = w . x_i
    if noise_std > 0:
        ys = ys + noise_std * rng.standard_normal(ys.shape)
    return Prompts(xs, ys, ws)


def interleave(xs: np.ndarray, ys: np.ndarray, dtype=np.float32) -> np.ndarray:
    """xs (B, K, d), ys (B, K) -> tokens (B, 2K - 1, d + 1): [x_1, 0], [0, y_1], ..., [x_K, 0].
    The last label is left out: it is what the model predicts at the final x."""
    B, K, d = xs.shape
    if ys.shape != (B, K):
        raise ValueError(f"interleave: ys must have shape {(B, K)} to match xs {xs.shape}, "
                         f"got {ys.shape}")
    tokens = np.zeros((B, 2 * K - 1, d + 1), dtype=dtype)
    tokens[:, 0::2, :d] = xs  # x tokens at even positions
    tokens[:, 1::2, d] = ys[:, :-1]  # y tokens at odd positions
    return tokens


def x_positions(n_points: int) -> np.ndarray:
    """Token positions that hold x_1 .. x_K (where the model predicts y)."""
    return 2 * np.arange(n_points)


def lsa_embedding(xs: np.ndarray, ys: np.ndarray, x_query: np.ndarray) -> np.ndarray:
    """Zhang, Frei & Bartlett's prompt matrix E = [[x_1..x_N, x_q], [y_1..y_N, 0]].
    xs (B, N, d), ys (B, N), x_query (B, d) -> E (B, d + 1, N + 1)."""
    B, N, d = xs.shape
    if ys.shape != (B, N) or x_query.shape != (B, d):
        raise ValueError(f"lsa_embedding: expected ys {(B, N)} and x_query {(B, d)} for xs "
                         f"{xs.shape}, got {ys.shape} and {x_query.shape}")
    E = np.zeros((B, d + 1, N + 1), dtype=np.result_type(xs, ys, x_query))
    E[:, :d, :N] = xs.transpose(0, 2, 1)
    E[:, d, :N] = ys
    E[:, :d, N] = x_query  # the query's label slot stays 0
    return E


# ----- autoregressive sequences x_{t+1} = W x_t ("On Mesa-Optimization in Autoregressively
# Trained Transformers: Emergence and Capability", Zheng et al.) ------------------------------
AR_TRANSITIONS = ("rotation", "orthogonal")
AR_STARTS = ("gaussian", "unit_modulus")


def rotation_blocks(batch: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """W = blockdiag(R(theta_1), .., R(theta_{d/2})), 2 x 2 rotations with theta ~ U[0, 2 pi):
    the real form of the paper's diagonal unitary W = diag(e^{i theta_j}).  (batch, d, d)."""
    if dim < 2 or dim % 2:
        raise ValueError(f"icl: a rotation-block transition needs an even dim >= 2, got {dim}")
    theta = rng.uniform(0.0, 2 * np.pi, (batch, dim // 2))
    c, s = np.cos(theta), np.sin(theta)
    W = np.zeros((batch, dim, dim))
    idx = np.arange(0, dim, 2)
    W[:, idx, idx], W[:, idx, idx + 1] = c, -s
    W[:, idx + 1, idx], W[:, idx + 1, idx + 1] = s, c
    return W


def haar_orthogonal(batch: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """Uniformly random orthogonal matrices (QR of a Gaussian, signs fixed), (batch, d, d)."""
    q, r = np.linalg.qr(rng.standard_normal((batch, dim, dim)))
    return q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]


def ar_start(batch: int, dim: int, rng: np.random.Generator, kind: str = "gaussian"):
    """The first token x_1 (batch, d): ``gaussian`` x_1 ~ N(0, I_d); ``unit_modulus`` every
    coordinate pair (x_{2j-1}, x_{2j}) = (cos phi_j, sin phi_j) with phi_j ~ U[0, 2 pi) (the
    real form of complex coordinates of modulus 1 and uniform phase)."""
    if kind == "gaussian":
        return rng.standard_normal((batch, dim))
    if kind == "unit_modulus":
        if dim % 2:
            raise ValueError(f"icl: unit_modulus starts need an even dim, got {dim}")
        phi = rng.uniform(0.0, 2 * np.pi, (batch, dim // 2))
        return np.stack([np.cos(phi), np.sin(phi)], axis=-1).reshape(batch, dim)
    raise ValueError(f"icl: start must be one of {AR_STARTS}, got {kind!r}")


def ar_sequences(batch: int, length: int, dim: int, rng: np.random.Generator, *,
                 transition: str = "rotation", start: str = "gaussian"):
    """Sequences x_1 .. x_T with x_{t+1} = W x_t and a fresh W per sequence:
    returns (xs (batch, T, d), W (batch, d, d))."""
    if batch < 1 or length < 2 or dim < 1:
        raise ValueError(f"icl: ar_sequences needs batch >= 1, length >= 2, dim >= 1, got "
                         f"{batch}, {length}, {dim}")
    if transition not in AR_TRANSITIONS:
        raise ValueError(f"icl: transition must be one of {AR_TRANSITIONS}, got {transition!r}")
    W = (rotation_blocks if transition == "rotation" else haar_orthogonal)(batch, dim, rng)
    xs = np.empty((batch, length, dim))
    xs[:, 0] = ar_start(batch, dim, rng, start)
    for t in range(1, length):
        xs[:, t] = np.einsum("bij,bj->bi", W, xs[:, t - 1])  # x_{t+1} = W x_t
    return xs, W


def mesa_embedding(xs: np.ndarray) -> np.ndarray:
    """Columns e_t = (0, x_t, x_{t-1}) with x_0 = 0: xs (B, T, d) -> E (B, 3d, T)."""
    B, T, d = xs.shape
    E = np.zeros((B, 3 * d, T), dtype=xs.dtype)
    E[:, d:2 * d] = xs.transpose(0, 2, 1)
    E[:, 2 * d:, 1:] = xs[:, :-1].transpose(0, 2, 1)
    return E
