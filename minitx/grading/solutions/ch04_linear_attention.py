"""Reference for ch04_linear_attention: each function calls the library where it has one.

The feature maps, the masked and the chunked forms are ``minitx.mixers.linear.linear_attention``
(``feature_map``, ``parallel_form``, ``chunked_form``) run on float64 Tensors of one batch
and one head; Performer's features are ``performer.positive_features``; the WY transform is
what ``deltanet.wy_representation`` builds inside each chunk. The one-token steps (linear
attention, delta rule, GLA) and LASP-2's prefix of chunk memories are the loop bodies of
``recurrent_form`` and of ``minitx.parallel.lasp2.run``, written out here because the library
runs them without an initial state (the graded tests check them against definitions). The
functions do not call one another, so a planted bug in one stays in that one.
"""

import numpy as np

import minitx
from minitx.mixers.linear import linear_attention as la
from minitx.mixers.linear.performer import positive_features

EPS = la.EPS


def _tensor(a):
    return minitx.tensor(np.asarray(a, dtype=np.float64), dtype="float64")


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def _one_head(*arrays):
    """(T, D) arrays -> (1, 1, T, D) float64 Tensors, the library's (B, H, T, D)."""
    return [_tensor(_f64(a)[None, None]) for a in arrays]


def elu_feature_map(x):
    return la.feature_map(_tensor(x), "elu").data


def linear_attention_step(S, z, fq_t, fk_t, v_t):
    S, z, fq_t, fk_t, v_t = (_f64(a) for a in (S, z, fq_t, fk_t, v_t))
    S_new = S + np.outer(fk_t, v_t)  # (D, Dv)
    z_new = z + fk_t
    y = fq_t @ S_new / (fq_t @ z_new + EPS)
    return S_new, z_new, y


def linear_attention_parallel(fq, fk, v):
    return la.parallel_form(*_one_head(fq, fk, v), causal=True).data[0, 0]


def linear_attention_chunked(fq, fk, v, chunk_size):
    if chunk_size < 1:
        raise ValueError(f"linear_attention_chunked: chunk_size must be >= 1, got {chunk_size}")
    return la.chunked_form(*_one_head(fq, fk, v), chunk_size=chunk_size).data[0, 0]


def performer_features(x, omega):
    return positive_features(_tensor(x), _f64(omega), is_query=False).data


def delta_rule_step(S, k_t, v_t, beta_t):
    S, k_t, v_t = _f64(S), _f64(k_t), _f64(v_t)
    return S + beta_t * np.outer(k_t, v_t - k_t @ S)  # S + beta k (v - k^T S)^T


def gla_step(S, alpha_t, q_t, k_t, v_t):
    S, alpha_t, q_t, k_t, v_t = (_f64(a) for a in (S, alpha_t, q_t, k_t, v_t))
    S_new = alpha_t[:, None] * S + np.outer(k_t, v_t)  # diag(alpha) S + k v^T
    return S_new, q_t @ S_new


def wy_transform(k, beta):
    # deltanet.wy_representation: T_c = (I + strictly_lower(diag(beta) K K^T))^{-1} diag(beta)
    k, beta = _f64(k), _f64(beta)
    C = k.shape[0]
    L = np.eye(C) + np.tril(beta[:, None] * (k @ k.T), -1)
    return np.linalg.inv(L) * beta[None, :]


def lasp2_prefix_memories(memories, lam, chunk_len):
    # lasp2.run: worker t weighs chunk s < t's memory by lam^(start_t - stop_s)
    M = _f64(memories)
    P = M.shape[0]
    out = np.zeros_like(M)
    for t in range(1, P):
        weights = lam ** (chunk_len * (t - 1 - np.arange(t)))  # (t,)
        out[t] = np.einsum("s,sde->de", weights, M[:t])
    return out
