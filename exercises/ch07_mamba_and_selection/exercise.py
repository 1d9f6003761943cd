"""Exercise set 7, Mamba and selection: the selective scan by hand, SSD, and recall tasks.

The first half builds Mamba's selective SSM ("Mamba: Linear-Time Sequence Modeling with
Selective State Spaces"): discretise (delta, A, B), take one step of the recurrence, run
the whole scan, write its backward pass, and the short causal convolution that sits in
front of it. Then the intra-chunk ("quadratic", attention-like) part of Mamba-2's SSD
("Transformers are SSMs"). The last two build the measuring tools of the chapter: the
selective-copying task and an induction-head accuracy. The tests compare each function
with minitx's reference on random inputs and check it against a definition.

Replace each `raise NotImplementedError(...)` with your code, then run
`minitx grade ch07` and read the hints of the failing tests. Keep the names and the
signatures. You may call your own functions from one another, but then a bug in one
also costs points in the other.

Shapes, as in minitx.kernels.selective_scan: Bt = batch, L = time, Di = channels
(d_inner), N = state size per channel. x, delta (Bt, L, Di); A (Di, N) (negative
numbers); B, C (Bt, L, N) (shared by all channels of a token); D (Di,). Arrays are
float64; return new arrays rather than changing the inputs.
"""

import numpy as np  # noqa: F401  (for your code)


# ----- the selective scan ----------------------------------------------------------------

def discretize(delta, A, B):
    """Turn the continuous (A, B) into the discrete (A_bar, B_bar) of every token and channel.

    delta (Bt, L, Di) step sizes (positive), A (Di, N), B (Bt, L, N). As in Mamba's code,
    A is discretised by zero-order hold and B by Euler's rule:
        A_bar[b, t, d, n] = exp(delta[b, t, d] * A[d, n])
        B_bar[b, t, d, n] = delta[b, t, d] * B[b, t, n]
    Returns (A_bar, B_bar), each (Bt, L, Di, N).
    """
    raise NotImplementedError("broadcast with delta[..., None] (Bt, L, Di, 1) against A (Di, N) "
                              "and against B[:, :, None, :] (Bt, L, 1, N)")


def selective_scan_step(h, x_t, delta_t, A, B_t, C_t, D):
    """One step of the selective SSM, for every batch element and channel at once.

    h (Bt, Di, N) the state before this token; x_t, delta_t (Bt, Di); A (Di, N);
    B_t, C_t (Bt, N); D (Di,):
        h_new[b, d, :] = exp(delta_t[b, d] A[d, :]) * h[b, d, :] + delta_t[b, d] x_t[b, d] B_t[b, :]
        y_t[b, d]      = C_t[b, :] . h_new[b, d, :] + D[d] x_t[b, d]
    Returns (y_t (Bt, Di), h_new (Bt, Di, N)).
    """
    raise NotImplementedError("a = np.exp(delta_t[..., None] * A); h_new = a * h + "
                              "(delta_t * x_t)[..., None] * B_t[:, None, :]; y by np.einsum")


def selective_scan(x, delta, A, B, C, D):
    """The whole selective scan: y (Bt, L, Di) from the state h = 0 before the first token.

    For t = 0 .. L-1 apply the step above with x[:, t], delta[:, t], B[:, t], C[:, t] and
    collect y_t. (The state is (Bt, Di, N); never build an (L, L) matrix.)
    """
    raise NotImplementedError("h = np.zeros((Bt, Di, N)); loop over t doing one step (as in "
                              "selective_scan_step); stack the y_t along axis 1")


def selective_scan_backward(x, delta, A, B, C, D, grad_y):
    """Gradients of sum(selective_scan(x, delta, A, B, C, D) * grad_y) for all six inputs.

    Returns (gx, gdelta, gA, gB, gC, gD) with the shapes of (x, delta, A, B, C, D).
    Run the scan forward once, keeping every state h_t (and h_{-1} = 0). Then sweep time
    backwards carrying g = dLoss/dh_t, with a_t = exp(delta_t A):
        g_t  = grad_y[:, t, :, None] * C_t[:, None, :] + a_{t+1} * g_{t+1}    (g after the end = 0)
        gC_t = sum_d grad_y_t[d] h_t[d, :]           gB_t = sum_d g_t[d, :] delta_t[d] x_t[d]
        gx_t = D grad_y_t + delta_t (g_t . B_t)      gD   = sum over b, t of grad_y x
        gdelta_t = sum_n g_t h_{t-1} a_t A  +  x_t (g_t . B_t)
        gA   = sum over b, t of g_t h_{t-1} a_t delta_t[..., None]
    """
    raise NotImplementedError("store states h[:, t]; for t from L-1 down to 0: g += grad_y_t C_t; "
                              "use g and h[:, t-1]; then g = a_t * g")


def causal_depthwise_conv(x, w, bias):
    """The short causal convolution of the Mamba block, one filter per channel.

    x (Bt, L, C), w (C, K), bias (C,). Output t of channel c sees inputs t-K+1 .. t:
        y[b, t, c] = bias[c] + sum_k w[c, k] * x[b, t - K + 1 + k, c]     (x before 0 is 0)
    so w[c, K-1] multiplies the current input. Returns y (Bt, L, C).
    """
    raise NotImplementedError("pad K-1 zeros in front along time; for k in range(K): "
                              "y += w[:, k] * xp[:, k:k + L]")


# ----- SSD: the chunk as a masked "attention" --------------------------------------------

def ssd_chunk(x, a, B, C):
    """The intra-chunk output of SSD (Mamba-2), computed as a quadratic form.

    x (Bt, Q, H, P): Q tokens of H heads of P channels (already multiplied by delta);
    a (Bt, Q, H): log of each head's scalar decay per token (a = delta * A <= 0);
    B, C (Bt, Q, N), shared by the heads. With the state 0 before the chunk:
        y[b, i, h] = sum_{j <= i} L[b, i, j, h] (C[b, i] . B[b, j]) x[b, j, h]
        L[b, i, j, h] = exp(a[b, j+1, h] + ... + a[b, i, h])   (L = 1 on the diagonal)
    This equals the scan h_i = exp(a_i) h_{i-1} + B_i x_i^T, y_i = C_i h_i per head.
    Returns y (Bt, Q, H, P). Use cumulative sums for the segment sums, and keep exp away
    from the entries above the diagonal (they would overflow): set them to 0.
    """
    raise NotImplementedError("cs = np.cumsum(a, 1); seg[i, j] = cs[i] - cs[j]; L = exp(seg) "
                              "where j <= i else 0; then one np.einsum")


# ----- the recall tasks ------------------------------------------------------------------

def selective_copy_batch(batch, n_memorize, n_noise, n_symbols, seed):
    """A batch of the selective-copying task (Mamba, section 3.1).

    Token ids: 0 = noise, 1..n_symbols = data, n_symbols + 1 = marker. Each row: a context
    of n_noise + n_memorize tokens with n_memorize random data symbols at random distinct
    positions (noise elsewhere), then n_memorize markers. At the i-th marker the model must
    output the i-th data symbol of the context. Returns (inputs, targets, mask), each
    (batch, n_noise + 2 * n_memorize): inputs int64; targets int64 holding the answers at
    the markers and 0 elsewhere; mask bool, True exactly at the markers. ``seed`` is an int:
    the same seed must give the same batch; positions must vary from row to row.
    """
    raise NotImplementedError("rng = np.random.default_rng(seed); positions: np.sort of the "
                              "first n_memorize of a random permutation of the context")


def induction_accuracy(logits, inputs, special):
    """How often a model does what an induction head does, at every chance it gets.

    logits (Bt, T, V), inputs (Bt, T) int. Wherever inputs[b, t] == special and the special
    token occurred earlier in row b, the model's prediction argmax(logits[b, t]) should be
    the token that followed the most recent earlier occurrence p: inputs[b, p + 1].
    Returns the fraction of such positions (over the whole batch) where it is; nan if there
    are none.
    """
    raise NotImplementedError("walk each row remembering the last position of `special`; at each "
                              "later occurrence compare argmax with inputs[last + 1]")
