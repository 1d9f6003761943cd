"""Linear attention: softmax's exp(q . k) replaced by a feature-map product phi(q) . phi(k).

Paper: "Transformers are RNNs: Fast Autoregressive Transformers with Linear Attention"
(Katharopoulos et al.), eq. 2-9.  Glossary (code -> paper):

    phi          feature map: elu(x) + 1 (the paper's) or relu(x)
    q, k, v      (B, H, T, D)   queries, keys, values per head (moved before time here)
    S            (B, H, D, Dv)  the state  S_t = sum_{j <= t} phi(k_j) v_j^T
    z            (B, H, D)      the normaliser  z_t = sum_{j <= t} phi(k_j)
    y_t          phi(q_t)^T S_t / (phi(q_t)^T z_t)

One semantics, three forms (tests prove them equal, and equal to the T x T matrix):
    parallel    A = tril(phi(Q) phi(K)^T), y = A V / rowsum(A)      O(T^2 D) time
    recurrent   the loop above, one token at a time (the Numba gated scan of
                kernels.gated_scan; ``recurrent_form_loop`` is the Python loop)  O(T D Dv)
    chunked     chunks of C tokens: inside a chunk the parallel form, across chunks the
                state, carried by a cumulative sum over chunk states: O(T C D + T D Dv)
Without a causal mask the whole sequence shares one state: y = phi(Q) (phi(K)^T V) / ...,
O(T D Dv).
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ...autograd.ops_elementwise import where
from ...autograd.ops_reduce import cumsum
from ...autograd.ops_shape import cat, tril
from ...autograd.tensor import Tensor
from ...nn import Linear, Module
from ..heads import merge_heads, qkv_heads
from ..registry import register
from ._scan_ops import gated_scan

EPS = 1e-6  # keeps 0 / 0 away when relu features vanish
FEATURE_MAPS = ("elu", "relu")
FORMS = ("chunked", "parallel", "recurrent", "loop")  # loop: recurrent_form_loop


def feature_map(x, name: str):
    """phi(x): elu(x) + 1 = x + 1 for x > 0, exp(x) otherwise (always > 0); or relu(x)."""
    if name == "elu":
        return where(x.data > 0, x + 1.0, (x.minimum(0.0)).exp())
    if name == "relu":
        return F.relu(x)
    raise ValueError(f"linear attention: unknown feature map {name!r} (accepted: "
                     f"{', '.join(FEATURE_MAPS)})")


def parallel_form(fq, fk, v, causal=True, eps=EPS):
    """fq, fk (B, H, T, D) features, v (B, H, T, Dv) -> y (B, H, T, Dv), quadratic in T."""
    A = fq @ fk.mT  # phi(Q) phi(K)^T   (B, H, T, T)
    if causal:
        A = tril(A)
    return (A @ v) / (A.sum(-1, keepdim=True) + eps)


def global_form(fq, fk, v, eps=EPS):
    """The non-causal case in O(T): every query reads the one state of the whole sequence."""
    S = fk.mT @ v  # (B, H, D, Dv)
    z = fk.sum(2, keepdim=True)  # (B, H, 1, D)
    return (fq @ S) / ((fq * z).sum(-1, keepdim=True) + eps)


def recurrent_form(fq, fk, v, eps=EPS):
    """The RNN: S_t = S_{t-1} + phi(k_t) v_t^T, z_t = z_{t-1} + phi(k_t), token by token.
    The numerator phi(q_t) S_t is the gated scan with alpha = 1 (log alpha = 0), one autograd
    node over the Numba kernel; z_t is a cumulative sum of phi(k). O(T D Dv)."""
    num = gated_scan(fq, fk, v, np.zeros(fq.shape, fq.dtype))  # (B, H, T, Dv)
    z = cumsum(fk, 2)  # z_t   (B, H, T, D)
    return num / ((fq * z).sum(-1, keepdim=True) + eps)


def recurrent_form_loop(fq, fk, v, eps=EPS):
    """The same RNN as a Python loop of autograd ops, the form to read."""
    qs, ks, vs = (t.split(1, dim=2) for t in (fq, fk, v))  # split once, not x[:, t] per step
    S, z, outs = None, None, []
    for q_t, k_t, v_t in zip(qs, ks, vs):  # each (B, H, 1, .)
        S = k_t.mT @ v_t if S is None else S + k_t.mT @ v_t  # (B, H, D, Dv)
        z = k_t if z is None else z + k_t  # (B, H, 1, D)
        outs.append((q_t @ S) / ((q_t * z).sum(-1, keepdim=True) + eps))
    return cat(outs, dim=2)  # (B, H, T, Dv)


def chunked_form(fq, fk, v, chunk_size=64, eps=EPS):
    """Causal linear attention in chunks of C tokens, with no Python loop over chunks:
    intra-chunk  tril(phi(Q_c) phi(K_c)^T) V_c            (B, H, N, C, Dv)
    inter-chunk  phi(Q_c) S_{c-1},  S_{c-1} = sum of the states of earlier chunks,
    an exclusive cumulative sum over the chunk axis N."""
    B, H, T, D = fq.shape
    Dv = v.shape[-1]
    C = min(chunk_size, T)
    N = -(-T // C)  # chunks, the last one padded at the end (causal: padding is never read)
    pad = N * C - T
    if pad:
        fq, fk, v = (_pad_time(x, pad) for x in (fq, fk, v))
    qc, kc, vc = (x.reshape(B, H, N, C, x.shape[-1]) for x in (fq, fk, v))  # (B, H, N, C, .)
    A = tril(qc @ kc.mT)  # (B, H, N, C, C)
    chunk_state = kc.mT @ vc  # phi(K_c)^T V_c    (B, H, N, D, Dv)
    chunk_norm = kc.sum(3)  # sum of phi(k) in the chunk   (B, H, N, D)
    S_before = cumsum(chunk_state, 2) - chunk_state  # exclusive: chunks before this one
    z_before = (cumsum(chunk_norm, 2) - chunk_norm).unsqueeze(3)  # (B, H, N, 1, D)
    num = A @ vc + qc @ S_before  # (B, H, N, C, Dv)
    den = A.sum(-1, keepdim=True) + (qc * z_before).sum(-1, keepdim=True)
    y = (num / (den + eps)).reshape(B, H, N * C, Dv)
    return y[:, :, :T] if pad else y


def _pad_time(x, pad):
    """Append ``pad`` zero steps on the time axis (axis 2) of x (B, H, T, D)."""
    zeros = Tensor(np.zeros(x.shape[:2] + (pad,) + x.shape[3:], dtype=x.dtype))
    return cat([x, zeros], dim=2)


@register("linear")
class LinearAttention(Module):
    """Linear attention ("Transformers are RNNs"), multi-head, with a choice of feature
    map and of form. Cost: O(T C D + T D^2) chunked (default), O(T^2 D) parallel,
    O(T D^2) recurrent; ``step`` decodes in O(D^2) per token with a fixed-size state."""

    eps = EPS  # added to every normaliser

    def __init__(self, d_model, n_heads=1, causal=True, feature_map="elu", form="chunked",
                 chunk_size=64, bias=True):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"linear attention: d_model {d_model} is not divisible by "
                             f"n_heads {n_heads}")
        if feature_map not in FEATURE_MAPS:
            raise ValueError(f"linear attention: unknown feature map {feature_map!r} "
                             f"(accepted: {', '.join(FEATURE_MAPS)})")
        if form not in FORMS:
            raise ValueError(f"linear attention: unknown form {form!r} (accepted: "
                             f"{', '.join(FORMS)})")
        if chunk_size < 1:
            raise ValueError(f"linear attention: chunk_size must be >= 1, got {chunk_size}")
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, d_model // n_heads
        self.causal, self.feature_map, self.form, self.chunk_size = (causal, feature_map, form,
                                                                     chunk_size)
        self.qkv = Linear(d_model, 3 * d_model, bias=bias)
        self.out = Linear(d_model, d_model, bias=bias)

    def _features(self, x):
        """x (B, T, C) -> phi(q), phi(k), v, each (B, H, T, D)."""
        q, k, v = qkv_heads(self.qkv(x), self.n_heads)
        return feature_map(q, self.feature_map), feature_map(k, self.feature_map), v

    def mix(self, fq, fk, v, form=None):
        """Apply one form to features (B, H, T, D); ``form`` overrides the mixer's own."""
        form = form or self.form
        eps = self.eps
        if not self.causal:
            return parallel_form(fq, fk, v, causal=False, eps=eps) if form == "parallel" else \
                global_form(fq, fk, v, eps)
        if form == "parallel":
            return parallel_form(fq, fk, v, eps=eps)
        if form == "recurrent":
            return recurrent_form(fq, fk, v, eps)
        if form == "loop":
            return recurrent_form_loop(fq, fk, v, eps)
        return chunked_form(fq, fk, v, self.chunk_size, eps)

    def forward(self, x, form=None):
        y = self.mix(*self._features(x), form=form)  # (B, H, T, D)
        return self.out(merge_heads(y))

    def mixing_matrix(self, x):
        """The (B, H, T, T) matrix M with y_heads = M v: row-normalised tril(phi(Q) phi(K)^T),
        the unified view's picture of this mixer (small inputs only)."""
        fq, fk, _ = self._features(x)
        A = (fq @ fk.mT).data
        if self.causal:
            A = np.tril(A)
        return A / (A.sum(-1, keepdims=True) + self.eps)

    # ----- recurrent form: O(1) state per token -------------------------------------
    def init_state(self, batch):
        if not self.causal:
            raise ValueError("linear attention: step() needs causal=True (a bidirectional "
                             "mixer reads future tokens)")
        return {"S": None, "z": None}

    def step(self, x_t, state):
        """x_t (B, C) -> (y_t (B, C), state (S, z) with this token added)."""
        if not self.causal:
            raise ValueError("linear attention: step() needs causal=True")
        fq, fk, v = self._features(x_t.unsqueeze(1))  # (B, H, 1, D)
        S = fk.mT @ v if state["S"] is None else state["S"] + fk.mT @ v
        z = fk if state["z"] is None else state["z"] + fk
        y = (fq @ S) / ((fq * z).sum(-1, keepdim=True) + self.eps)  # (B, H, 1, D)
        return self.out(y.reshape(x_t.shape)), {"S": S, "z": z}

    def extra_repr(self):
        return (f"d_model={self.d_model}, n_heads={self.n_heads}, causal={self.causal}, "
                f"feature_map={self.feature_map!r}, form={self.form!r}")
