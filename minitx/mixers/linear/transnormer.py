"""TransNormer's NormAttention and DiagAttention, and Lightning Attention's block split.

Papers: "The Devil in Linear Transformer" (Qin et al., 2022): linear attention's row
scaling 1 / phi(q)^T sum phi(k) makes gradients unbounded, and its weights spread thin
over long sequences ("attention dilution"). NormAttention drops the scaling and
normalises the output instead; DiagAttention keeps early layers local (softmax inside
blocks). "Scaling TransNormer to 175 Billion Parameters" / "TransNormerLLM": an
exponential decay lambda^(t-s) per head against dilution, and Lightning Attention, which
computes it in blocks: inside a block the left product [(Q_b K_b^T) * decay mask] V_b,
across blocks the right product Q_b KV with a decayed state.

Glossary (code -> paper):
    q, k, v       (B, H, T, D)    queries, keys, values (after the feature map phi)
    lam           (H,)            the decay lambda of each head (1: no decay, NormAttention)
    decay mask    M_ts = lam^(t-s) for s <= t, else 0
    KV            (B, H, D, D)    the state  KV_t = lam KV_{t-1} + k_t^T v_t
    o_t           q_t KV_t = sum_{s <= t} lam^(t-s) (q_t . k_s) v_s
    block         Lightning's block size B_l (``chunk_size`` here)

Forms (tests prove them equal): parallel O(T^2 D), recurrent O(T D^2), and lightning
O(T C D + T D^2 + (T/C)^2 D^2), the last term the sum over earlier blocks done as one small
matrix product instead of a loop.
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ...autograd.ops_linalg import einsum
from ...autograd.ops_shape import cat
from ...autograd.tensor import Tensor
from ...nn import Linear, Module, RMSNorm
from ..heads import merge_heads, qkv_heads
from ..registry import register
from .linear_attention import FEATURE_MAPS, _pad_time, feature_map


def decay_mask(lam, T: int) -> np.ndarray:
    """(H, T, T): lam_h^(t-s) where s <= t, else 0."""
    gap = np.arange(T)[:, None] - np.arange(T)[None, :]  # t - s
    lam = np.asarray(lam, np.float64)[:, None, None]
    return np.where(gap >= 0, lam ** np.maximum(gap, 0), 0.0)


def parallel_form(q, k, v, lam):
    """o = [(Q K^T) * M] V, quadratic in T."""
    mask = Tensor(decay_mask(lam, q.shape[2]).astype(q.dtype))
    return ((q @ k.mT) * mask) @ v


def recurrent_form(q, k, v, lam):
    """KV_t = lam KV_{t-1} + k_t^T v_t, o_t = q_t KV_t, one token at a time."""
    lam = Tensor(np.asarray(lam, q.dtype)[:, None, None])  # (H, 1, 1)
    KV, outs = None, []
    for q_t, k_t, v_t in zip(*(x.split(1, dim=2) for x in (q, k, v))):  # each (B, H, 1, .)
        KV = k_t.mT @ v_t if KV is None else lam * KV + k_t.mT @ v_t  # (B, H, D, Dv)
        outs.append(q_t @ KV)
    return cat(outs, dim=2)


def lightning_form(q, k, v, lam, block=64):
    """Lightning Attention's split, blocks of C tokens:
    intra  [(Q_b K_b^T) * M_C] V_b                           the left product, in the block
    inter  lam^(i+1) q_i KV_{b-1}                           the right product, i = 0..C-1
    KV_b   = sum_{m <= b} lam^(C (b - m)) K_m^T diag(lam^(C-1-j)) V_m   (blocks so far)."""
    B, H, T, D = q.shape
    C = min(block, T)
    N = -(-T // C)
    pad = N * C - T
    if pad:
        q, k, v = (_pad_time(x, pad) for x in (q, k, v))
    qb, kb, vb = (x.reshape(B, H, N, C, x.shape[-1]) for x in (q, k, v))  # (B, H, N, C, .)
    lam64 = np.asarray(lam, np.float64)
    intra = ((qb @ kb.mT) * Tensor(decay_mask(lam, C)[:, None].astype(q.dtype))) @ vb
    to_end = lam64[:, None] ** (C - 1 - np.arange(C))  # lam^(C-1-j): key j to block end (H, C)
    block_state = (kb * Tensor(to_end[:, None, :, None].astype(q.dtype))).mT @ vb  # (B,H,N,D,Dv)
    gap = np.arange(N)[:, None] - 1 - np.arange(N)[None, :]  # n - 1 - m: blocks between
    carry = np.where(gap >= 0, lam64[:, None, None] ** (C * np.maximum(gap, 0)), 0.0)  # (H,N,N)
    state_before = einsum("hnm,bhmde->bhnde", Tensor(carry.astype(q.dtype)), block_state)
    from_start = lam64[:, None] ** (np.arange(C) + 1)  # lam^(i+1): state to query i (H, C)
    inter = (qb @ state_before) * Tensor(from_start[:, None, :, None].astype(q.dtype))
    y = (intra + inter).reshape(B, H, N * C, vb.shape[-1])
    return y[:, :, :T] if pad else y


FORM_FUNCTIONS = {"parallel": parallel_form, "recurrent": recurrent_form}


def _heads(x, mixer):
    """(B, T, C) projections -> q, k, v each (B, H, T, D)."""
    return qkv_heads(mixer.qkv(x), mixer.n_heads)


@register("norm-attention")
class NormAttention(Module):
    """TransNormer's NormAttention: o = RMSNorm(phi(Q) phi(K)^T V) (masked when causal), no
    row scaling; with ``decay`` < 1 every head forgets at rate lambda (Lightning Attention's
    decayed form). Cost: O(T C D + T D^2) in the lightning form (default), O(T^2 D)
    parallel, O(T D^2) recurrent; ``step`` O(D^2) per token."""

    def __init__(self, d_model, n_heads=1, causal=True, feature_map="elu", decay=1.0,
                 form="lightning", chunk_size=64, bias=True):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"norm-attention: d_model {d_model} is not divisible by n_heads "
                             f"{n_heads}")
        if feature_map not in FEATURE_MAPS + ("silu",):
            raise ValueError(f"norm-attention: unknown feature map {feature_map!r} (accepted: "
                             f"{', '.join(FEATURE_MAPS + ('silu',))})")
        forms = ("lightning",) + tuple(FORM_FUNCTIONS)
        if form not in forms:
            raise ValueError(f"norm-attention: unknown form {form!r} (accepted: "
                             f"{', '.join(forms)})")
        lam = np.broadcast_to(np.asarray(decay, np.float64), (n_heads,)).copy()
        if not ((lam > 0) & (lam <= 1)).all():
            raise ValueError(f"norm-attention: decay must be in (0, 1] (one number or one per "
                             f"head), got {decay}")
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, d_model // n_heads
        self.causal, self.feature_map, self.form, self.chunk_size = (causal, feature_map, form,
                                                                     chunk_size)
        self.lam = lam
        self.qkv = Linear(d_model, 3 * d_model, bias=bias)
        self.norm = RMSNorm(d_model)  # the "XNorm" that replaces the row scaling
        self.out = Linear(d_model, d_model, bias=bias)

    def _phi(self, x):
        return F.silu(x) if self.feature_map == "silu" else feature_map(x, self.feature_map)

    def forward(self, x, form=None):
        q, k, v = _heads(x, self)
        q, k = self._phi(q), self._phi(k)
        form = form or self.form
        if not self.causal:  # every token reads the whole sequence: no decay, one state
            if (self.lam != 1).any():
                raise ValueError(f"{self.mixer_name}: decay needs causal=True (lambda^(t-s) is "
                                 "defined for s <= t)")
            y = q @ (k.mT @ v)
        elif form == "lightning":
            y = lightning_form(q, k, v, self.lam, self.chunk_size)
        else:
            y = FORM_FUNCTIONS[form](q, k, v, self.lam)
        return self._output(merge_heads(y), x)

    def _output(self, y, x):
        """Heads joined, y (B, T, C) -> the mixer's output: the norm replaces the scaling."""
        return self.out(self.norm(y))

    def mixing_matrix(self, x):
        """(B, H, T, T) weights M with heads' output = M v before the norm."""
        q, k, _ = _heads(x, self)
        A = (self._phi(q) @ self._phi(k).mT).data
        return A * decay_mask(self.lam, A.shape[-1]) if self.causal else A

    def init_state(self, batch):
        if not self.causal:
            raise ValueError("norm-attention: step() needs causal=True")
        return {"KV": None}

    def step(self, x_t, state):
        """x_t (B, C) -> (y_t, state): KV <- lam KV + k^T v, y = RMSNorm(q KV)."""
        q, k, v = _heads(x_t.unsqueeze(1), self)  # (B, H, 1, D)
        q, k = self._phi(q), self._phi(k)
        lam = Tensor(self.lam.astype(q.dtype)[:, None, None])
        KV = k.mT @ v if state["KV"] is None else lam * state["KV"] + k.mT @ v
        y = (q @ KV).reshape(x_t.shape[0], 1, self.d_model)
        return self._output(y, x_t.unsqueeze(1)).reshape(x_t.shape), {"KV": KV}


@register("lightning")
class LightningAttention(NormAttention):
    """TransNormerLLM-style gated linear attention computed by Lightning Attention: SiLU
    features, a fixed decay per head (geometric from 1 - 2^-3 to 1 - 2^-8 here, minitx's
    choice: short memories to long), o = (RMSNorm(attn) * silu(x W_u)) W_o.
    Cost as NormAttention's lightning form."""

    def __init__(self, d_model, n_heads=1, causal=True, decay=None, chunk_size=64,
                 form="lightning", bias=True):
        decay = default_decays(n_heads) if decay is None else decay
        super().__init__(d_model, n_heads, causal=causal, feature_map="silu", decay=decay,
                         form=form, chunk_size=chunk_size, bias=bias)
        self.gate = Linear(d_model, d_model, bias=bias)  # U = x W_u

    def _output(self, y, x):
        return self.out(self.norm(y) * F.silu(self.gate(x)))  # the output gate U = x W_u


def default_decays(n_heads: int) -> np.ndarray:
    """One decay per head, 1 - 2^-3 (memory ~8 tokens) up to 1 - 2^-8 (~256 tokens)."""
    return 1.0 - 2.0 ** -np.linspace(3, 8, n_heads)
