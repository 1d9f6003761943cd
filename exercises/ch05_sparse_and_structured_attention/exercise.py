"""Exercise set 5, sparse and structured attention: which keys a query sees, and why.

Sparse attention keeps softmax but lets each query see a few keys: a sliding window with
global tokens (Longformer), strided and fixed patterns (Sparse Transformer), groups shifted
by half a group in half the heads (S^2-Attention), clusters found by online k-means
(Routing Transformer), the most "peaked" queries only (Informer's ProbSparse). Structured
mixers replace the T x T matrix by a cheaper one: Linformer's low-rank projections,
Monarch's two block-diagonal products, PoNet's pooling. The tests compare each function
with what minitx runs, on random inputs, and check it against a definition.

Replace each `raise NotImplementedError(...)` with your code, then run `minitx grade ch05`
and read the hints of the failing tests. Keep the names and the signatures.

Conventions: one head, no batch. A mask is a (T, T) bool array, mask[i, j] = True when
query i may attend to key j. q, k, v are (T, D) arrays. Scores are scaled by 1 / sqrt(D).
Return new arrays rather than changing the inputs.
"""

import numpy as np  # noqa: F401  (for your code)


def sliding_window_mask(T, window, n_global, causal):
    """Longformer's pattern: a band of width ``window`` plus ``n_global`` global tokens.

    Query i sees key j when |i - j| < window (causal: 0 <= i - j < window), or when j is a
    global token (j < n_global; causal: and j <= i). Without causal a global token also
    sees every key (i < n_global). window < 1 -> ValueError naming it.
    """
    raise NotImplementedError("i, j = np.arange(T)[:, None], np.arange(T)[None, :]; combine "
                              "(i - j < window) & (j <= i) with (j < n_global) & (j <= i)")


def strided_mask(T, stride):
    """Sparse Transformer's strided pattern, causal: query i sees key j <= i when
    i - j < stride (the last ``stride`` tokens) or (i - j) % stride == 0 (every stride-th
    token back). Two such hops reach every earlier token."""
    raise NotImplementedError("d = i - j; ((d < stride) | (d % stride == 0)) & (j <= i)")


def fixed_mask(T, stride, summary):
    """Sparse Transformer's fixed pattern, causal: query i sees key j <= i when both lie in
    the same block of ``stride`` tokens (i // stride == j // stride), or when j is one of
    the last ``summary`` positions of its block (j % stride >= stride - summary)."""
    raise NotImplementedError("((i // stride == j // stride) | (j % stride >= stride - summary)) "
                              "& (j <= i)")


def s2_group_ids(T, group_size, shifted):
    """S^2-Attention (LongLoRA) groups: the (T,) int group index of every position.

    Plain groups: position t is in group t // group_size. Shifted groups (half the heads)
    start half a group earlier: (t + group_size // 2) // group_size. Tokens attend within
    their group; the shift lets information cross the plain groups' borders.
    """
    raise NotImplementedError("(np.arange(T) + (group_size // 2 if shifted else 0)) // group_size")


def linformer_attention(q, k, v, E, Fp):
    """Linformer: attention over r projected keys and values instead of T.

    q, k, v (T, D); E, Fp (r, T) projections along time:
        K' = E k (r, D),  V' = Fp v (r, D),  y = softmax(q K'^T / sqrt(D)) V'    (T, D)
    The T x T mixing matrix softmax(q K'^T / sqrt(D)) Fp has rank at most r.
    """
    raise NotImplementedError("s = q @ (E @ k).T / np.sqrt(D); softmax over the last axis "
                              "(subtract the row max); return p @ (Fp @ v)")


def kmeans_assign(x, centroids):
    """Routing Transformer: the cluster of every row of x (T, D), by cosine similarity.

    centroids (c, D) unit rows. Return (T,) ints: argmax_j of (x_t / |x_t|) . centroid_j.
    Queries and keys in the same cluster attend to one another.
    """
    raise NotImplementedError("unit = x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-9); "
                              "(unit @ centroids.T).argmax(1)")


def kmeans_ema_update(centroids, x, clusters, decay):
    """One online k-means step: centroid j moves towards the mean of the rows assigned to it.

    centroids (c, D), x (T, D), clusters (T,) ints in [0, c), decay in [0, 1):
        mu_j <- decay * mu_j + (1 - decay) * mean{x_t : clusters[t] == j}
    (a centroid with no member is left as it is), then every centroid is scaled to unit
    length: mu_j / (|mu_j| + 1e-9). Returns (c, D).
    """
    raise NotImplementedError("for j in range(c): members = x[clusters == j]; if len(members): "
                              "new[j] = decay * new[j] + (1 - decay) * members.mean(0); normalise")


def probsparse_scores(q, k_sample):
    """Informer's query sparsity measure M(q_i, K) against sampled keys k_sample (U, D):
        s = q k_sample^T / sqrt(D)   (T, U);   M_i = max_j s_ij - mean_j s_ij     (T,)
    A peaked (far from uniform) attention row has a large M."""
    raise NotImplementedError("s = q @ k_sample.T / np.sqrt(D); s.max(1) - s.mean(1)")


def probsparse_top_u(q, k_sample, u):
    """The u "active" queries: the indices of the u largest probsparse scores (as
    probsparse_scores defines them), returned in increasing order, (u,) ints. Only they get
    full attention; the others output the mean of the values."""
    raise NotImplementedError("np.sort(np.argsort(-scores)[:u])")


def monarch_multiply(x, blocks_r, blocks_l):
    """y = M x for a Monarch matrix M = P L P R, along the first axis of x (n, C), n = b^2.

    blocks_r, blocks_l (b, b, b): b blocks of b x b each. Write x as a b x b grid
    X[j1, j2] = x[j1 * b + j2] (x.reshape(b, b, C)). Then
        A[:, j2] = blocks_r[j2] @ X[:, j2]          (each column by its own block: R)
        Y[k1, :] = blocks_l[k1] @ A[k1, :]          (each row by its own block: L)
        y[k1 + b * k2] = Y[k1, k2]                  (read the grid out column-major)
    Two batched block-diagonal products, O(n^1.5) instead of O(n^2). x may be complex.
    """
    raise NotImplementedError("X = x.reshape(b, b, C); A = np.einsum('qkj,jqc->kqc', blocks_r, "
                              "X); Y = np.einsum('kpq,kqc->kpc', blocks_l, A); transpose, reshape")


def segment_max(x, segment):
    """PoNet's segment max-pooling, causal: x (T, C) -> (T, C); row t is the elementwise
    max of x over the tokens of t's segment up to t: segments are
    [0, segment), [segment, 2 segment), ..."""
    raise NotImplementedError("for t in range(T): start = t - t % segment; "
                              "out[t] = x[start:t + 1].max(0)")
