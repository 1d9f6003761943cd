"""Reference for ch07_mamba_and_selection (the selective scan, SSD, and the recall tasks).

Where the library has the function, the reference calls it: the scan's forward and
backward are ``kernels.selective_scan``'s NumPy references, the causal depthwise
convolution is ``nn.conv.causal_conv1d_forward``, the selective-copy batch is
``tasks.recall.selective_copy``. The discretisation, one scan step, the intra-chunk
(quadratic) part of SSD and the induction-head metric are written here: they are the
loop bodies and pieces of those kernels, short enough to read in one go. The
functions do not call one another, so a planted bug in one stays in that one.

Paper symbols: "Mamba: Linear-Time Sequence Modeling with Selective State Spaces"
(delta, A, B, C, D; A_bar = exp(delta A), B_bar = delta B as in its reference code) and
"Transformers are SSMs: Generalized Models and Efficient Algorithms Through Structured
State Space Duality" (SSD: y = (L o C B^T) x with L_ij = exp(a_{j+1} + ... + a_i)).
"""

import numpy as np

from minitx.kernels.selective_scan import selective_scan_backward_ref, selective_scan_forward_ref
from minitx.nn.conv import causal_conv1d_forward
from minitx.tasks import recall


def _f64(*arrays):
    return tuple(np.asarray(a, dtype=np.float64) for a in arrays)


def discretize(delta, A, B):
    delta, A, B = _f64(delta, A, B)
    A_bar = np.exp(delta[..., None] * A)            # (Bt, L, Di, N): zero-order hold
    B_bar = delta[..., None] * B[..., None, :]      # (Bt, L, Di, N): Euler, delta * B
    return A_bar, B_bar


def selective_scan_step(h, x_t, delta_t, A, B_t, C_t, D):
    h, x_t, delta_t, A, B_t, C_t, D = _f64(h, x_t, delta_t, A, B_t, C_t, D)
    a = np.exp(delta_t[..., None] * A)                            # (Bt, Di, N)
    h_new = a * h + (delta_t * x_t)[..., None] * B_t[:, None, :]  # (Bt, Di, N)
    y_t = np.einsum("bdn,bn->bd", h_new, C_t) + D * x_t           # (Bt, Di)
    return y_t, h_new


def selective_scan(x, delta, A, B, C, D):
    return selective_scan_forward_ref(*_f64(x, delta, A, B, C, D))


def selective_scan_backward(x, delta, A, B, C, D, grad_y):
    return selective_scan_backward_ref(*_f64(x, delta, A, B, C, D, grad_y))


def causal_depthwise_conv(x, w, bias):
    x, w, bias = _f64(x, w, bias)
    return causal_conv1d_forward(x, w, bias)


def ssd_chunk(x, a, B, C):
    x, a, B, C = _f64(x, a, B, C)
    cum = np.cumsum(a, axis=1)                                     # (Bt, Q, H)
    seg = cum[:, :, None, :] - cum[:, None, :, :]                  # (Bt, Q_i, Q_j, H)
    Q = x.shape[1]
    causal = np.tril(np.ones((Q, Q), bool))[None, :, :, None]
    decay = np.where(causal, np.exp(np.where(causal, seg, 0.0)), 0.0)  # L_ij, 0 above diag
    scores = np.einsum("bin,bjn->bij", C, B)                       # (Bt, Q, Q): C_i . B_j
    return np.einsum("bijh,bij,bjhp->bihp", decay, scores, x)      # (Bt, Q, H, P)


def selective_copy_batch(batch, n_memorize, n_noise, n_symbols, seed):
    b = recall.selective_copy(batch, n_memorize, n_noise, n_symbols, seed)
    return b.inputs, b.targets, b.mask


def induction_accuracy(logits, inputs, special):
    logits, inputs = np.asarray(logits), np.asarray(inputs)
    pred = logits.argmax(-1)                                       # (Bt, T)
    right = total = 0
    for row_in, row_pred in zip(inputs, pred):
        last = None  # the most recent earlier occurrence of the special token
        for t, token in enumerate(row_in):
            if token == special:
                if last is not None:
                    total += 1
                    right += int(row_pred[t] == row_in[last + 1])
                last = t
    return float(right / total) if total else float("nan")
