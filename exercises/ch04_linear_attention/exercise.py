"""Exercise set 4, linear attention: from softmax's T x T weights to a state.

Replace softmax's exp(q . k) by a feature-map product phi(q) . phi(k) and attention turns
into an RNN whose state is a D x Dv matrix. You write the feature maps (elu + 1 and
Performer's positive random features), the three equal forms (one recurrent step, the
masked parallel form, the chunked form), the delta rule and GLA's gated update, the WY
transform that makes the delta rule chunkwise-parallel, and LASP-2's prefix of chunk
memories. The tests compare each function with what minitx runs, on random inputs, and
check it against a definition.

Replace each `raise NotImplementedError(...)` with your code, then run `minitx grade ch04`
and read the hints of the failing tests. Keep the names and the signatures.

Conventions: one head, no batch. fq, fk are features phi(q), phi(k) (already mapped,
non-negative); q, k, v are rows of (T, D) arrays; a state S is (D, Dv) and a token writes
the outer product k_t v_t^T into it. All arrays are float64; return new arrays rather
than changing the inputs.
"""

import numpy as np  # noqa: F401  (for your code)

EPS = 1e-6  # added to every normaliser of linear attention, as minitx does


def elu_feature_map(x):
    """phi(x) = elu(x) + 1, elementwise: x + 1 where x > 0, exp(x) elsewhere.

    Always positive, so phi(q) . phi(k) > 0 and the attention weights are positive, as
    softmax's are ("Transformers are RNNs", eq. 7). Returns an array shaped like x.
    """
    raise NotImplementedError("np.where(x > 0, x + 1, np.exp(np.minimum(x, 0)))")


def linear_attention_step(S, z, fq_t, fk_t, v_t):
    """One token of causal linear attention as an RNN.

    S (D, Dv) state and z (D,) normaliser of the tokens before; fq_t, fk_t (D,), v_t (Dv,):
        S_t = S + fk_t v_t^T,   z_t = z + fk_t,   y_t = (fq_t^T S_t) / (fq_t . z_t + EPS)
    Returns (S_t, z_t, y_t (Dv,)). From S = 0, z = 0 the outputs equal the masked form.
    """
    raise NotImplementedError("S_new = S + np.outer(fk_t, v_t); z_new = z + fk_t; "
                              "y = fq_t @ S_new / (fq_t @ z_new + EPS)")


def linear_attention_parallel(fq, fk, v):
    """Causal linear attention in the masked, quadratic form.

    fq, fk (T, D), v (T, Dv): A = tril(fq fk^T) (T, T), keys j <= i only;
        y = (A v) / (rowsum(A) + EPS)            (T, Dv)
    """
    raise NotImplementedError("A = np.tril(fq @ fk.T); return A @ v / (A.sum(1, keepdims=True) "
                              "+ EPS)")


def linear_attention_chunked(fq, fk, v, chunk_size):
    """Causal linear attention in chunks of C = chunk_size tokens (the last may be shorter).

    Chunk c covers tokens [c C, (c + 1) C). Its outputs are
        intra:  tril(fq_c fk_c^T) v_c              (inside the chunk, the masked form)
        inter:  fq_c S_before,  S_before = sum of fk_j v_j^T over the earlier chunks
        y_c = (intra + inter) / (rowsum of the masked scores + fq_c . z_before + EPS)
    with z_before = sum of fk_j over the earlier chunks. After the chunk, add its own
    fk_c^T v_c to S_before and the sum of its fk rows to z_before. Returns (T, Dv), equal
    to linear_attention_parallel. chunk_size < 1 -> ValueError naming it.
    """
    raise NotImplementedError("loop c0 in range(0, T, chunk_size): A = np.tril(qc @ kc.T); "
                              "y[c0:c1] = (A @ vc + qc @ S) / (...); then S += kc.T @ vc")


def performer_features(x, omega):
    """FAVOR+ positive random features of the rows of x (n, D), omega (m, D) random rows.

    With x' = x / D^(1/4) (so that exp(q' . k') = exp(q . k / sqrt(D))):
        phi(x) = exp(omega x' - |x'|^2 / 2) / sqrt(m)        (n, m)
    E_omega[phi(q) . phi(k)] = exp(q . k / sqrt(D)) when omega's rows are N(0, I): the
    softmax kernel, estimated with positive numbers only ("Rethinking Attention with
    Performers", Lemma 1).
    """
    raise NotImplementedError("xs = x * D ** -0.25; np.exp(xs @ omega.T - 0.5 * (xs ** 2).sum(1, "
                              "keepdims=True)) / np.sqrt(m)")


def delta_rule_step(S, k_t, v_t, beta_t):
    """One token of DeltaNet's delta rule: write v_t at key k_t, replacing what was there.

    S (D, Dv), k_t (D,), v_t (Dv,), beta_t a number in [0, 1]:
        v_old = k_t^T S                  what the memory returns for k_t now  (Dv,)
        S_t   = S + beta_t k_t (v_t - v_old)^T
    With |k_t| = 1 and beta_t = 1 the memory then returns exactly v_t for k_t.
    """
    raise NotImplementedError("S + beta_t * np.outer(k_t, v_t - k_t @ S)")


def gla_step(S, alpha_t, q_t, k_t, v_t):
    """One token of gated linear attention (GLA): forget per key dimension, then write.

    S (D, Dv), alpha_t (D,) gates in (0, 1), q_t, k_t (D,), v_t (Dv,):
        S_t = diag(alpha_t) S + k_t v_t^T,       o_t = q_t^T S_t   (Dv,)
    Returns (S_t, o_t). Row d of the state decays by alpha_t[d].
    """
    raise NotImplementedError("S_new = alpha_t[:, None] * S + np.outer(k_t, v_t); "
                              "return S_new, q_t @ S_new")


def wy_transform(k, beta):
    """The UT/WY transform of one chunk of the delta rule ("Parallelizing Linear Transformers
    with the Delta Rule over Sequence Length").

    k (C, D) keys, beta (C,) write strengths:
        T = (I + strictly_lower(diag(beta) K K^T))^{-1} diag(beta)          (C, C)
    strictly_lower keeps the entries below the diagonal (j < i): entry (i, j) is
    beta_i k_i . k_j. Then U = T V holds the corrections each token writes, and from S = 0
    the chunk's final state is K^T U.
    """
    raise NotImplementedError("L = np.eye(C) + np.tril(beta[:, None] * (k @ k.T), -1); "
                              "np.linalg.inv(L) * beta[None, :]  (scales column j by beta_j)")


def lasp2_prefix_memories(memories, lam, chunk_len):
    """LASP-2: after one all-gather, worker t sums the memories of the chunks before its own.

    memories (P, D, Dv): M_s = sum_j lam^(chunk_len - 1 - j) k_j v_j^T over chunk s's tokens
    (decayed to the chunk's last token); all chunks have chunk_len tokens; lam in (0, 1].
    Return prefix (P, D, Dv) with prefix[0] = 0 and
        prefix[t] = sum_{s < t} lam^(chunk_len * (t - 1 - s)) M_s
    the decayed state of every token before chunk t, as seen from chunk t - 1's last token.
    """
    raise NotImplementedError("for t in range(1, P): weights = lam ** (chunk_len * (t - 1 - "
                              "np.arange(t))); prefix[t] = np.einsum('s,sde->de', weights, M[:t])")
