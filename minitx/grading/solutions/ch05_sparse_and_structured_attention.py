"""Reference for ch05_sparse_and_structured_attention: each function calls the library.

The masks are ``minitx.mixers.sparse.sliding_window.visible_mask`` and
``patterns.strided_pattern`` / ``fixed_pattern``; S^2-Attention's groups are
``s2_attention.group_ids``; the routing steps are ``routing.assign`` and
``routing.kmeans_update``; ProbSparse's measure is ``probsparse.sparsity_scores``; the
Monarch product is ``monarch.monarch_multiply``; PoNet's segment pooling is
``ponet.segment_max``. Linformer's attention over projected keys is what ``Linformer``
runs (``F.scaled_dot_product_attention`` on E K and F V); ProbSparse's top-u choice is the
argsort of ``ProbSparseAttention.active_queries``. Arrays are put into the library's
(B, H, T, D) layout with one batch and one head, and taken out again. The functions do not
call one another, so a planted bug in one stays in that one.
"""

import numpy as np

import minitx
from minitx import functional as F
from minitx.mixers.sparse import monarch, patterns, ponet, probsparse, routing
from minitx.mixers.sparse.s2_attention import group_ids
from minitx.mixers.sparse.sliding_window import visible_mask


def _tensor(a):
    return minitx.tensor(np.asarray(a, dtype=np.float64), dtype="float64")


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def sliding_window_mask(T, window, n_global, causal):
    if window < 1:
        raise ValueError(f"sliding_window_mask: window must be >= 1, got {window}")
    return visible_mask(T, window, n_global, causal)


def strided_mask(T, stride):
    return patterns.strided_pattern(T, stride, causal=True)


def fixed_mask(T, stride, summary):
    return patterns.fixed_pattern(T, stride, summary, causal=True)


def s2_group_ids(T, group_size, shifted):
    return group_ids(T, group_size, shifted)


def linformer_attention(q, k, v, E, Fp):
    q, k, v, E, Fp = (_f64(a) for a in (q, k, v, E, Fp))
    y = F.scaled_dot_product_attention(_tensor(q[None]), _tensor((E @ k)[None]),
                                       _tensor((Fp @ v)[None]))  # (1, T, Dv)
    return y.data[0]


def kmeans_assign(x, centroids):
    return routing.assign(_f64(x)[None, None], _f64(centroids)[None])[0, 0]


def kmeans_ema_update(centroids, x, clusters, decay):
    new = routing.kmeans_update(_f64(centroids)[None], _f64(x)[:, None],
                                np.asarray(clusters)[:, None], decay)  # (1, c, D)
    return new[0]


def probsparse_scores(q, k_sample):
    return probsparse.sparsity_scores(_tensor(q), _tensor(k_sample))


def probsparse_top_u(q, k_sample, u):
    scores = probsparse.sparsity_scores(_tensor(q), _tensor(k_sample))
    return np.sort(np.argsort(-scores, kind="stable")[:u])


def monarch_multiply(x, blocks_r, blocks_l):
    return monarch.monarch_multiply(np.asarray(x)[None], blocks_r, blocks_l)[0]


def segment_max(x, segment):
    return ponet.segment_max(_tensor(_f64(x)[None]), segment, causal=True).data[0]
