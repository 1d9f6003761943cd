"""Gated linear attention (GLA) and its bidirectional form (ViG's BiGLA).

Papers: "Gated Linear Attention Transformers with Hardware-Efficient Training" (Yang et
al.): linear attention whose state forgets through a data-dependent gate on every key
dimension; "ViG: Linear-complexity Visual Sequence Learning with Gated Linear Attention":
the same layer run forwards and backwards over the sequence and summed, for inputs
without a direction (images).

    S_t = diag(alpha_t) S_{t-1} + k_t^T v_t        alpha_t in (0, 1)^Dk
    o_t = q_t S_t

Glossary (code -> paper):
    q, k, v     (B, H, T, D)   queries, keys, values
    alpha       (B, H, T, D)   forget gates, sigmoid(x W_a1 W_a2 + b)^(1/tau), low-rank W_a
    log_a       log alpha, summed inside a chunk: b_t = sum_{i <= t} log alpha_i
    S           (B, H, D, D)   the state

Chunkwise form (sec. 4 of the GLA paper, one level of chunking): inside a chunk starting
from state S,
    o_t = (q_t * e^{b_t}) S + sum_{s <= t} ((q_t * e^{b_t}) . (k_s * e^{-b_s})) v_s
    S'  = diag(e^{b_C}) S + sum_s (k_s * e^{b_C - b_s})^T v_s
with b measured from the chunk's start, so e^{-b_s} stays moderate for chunks of tens of
tokens. Cost: O(T C D + T D^2) chunked, O(T D^2) recurrent; ``step`` O(D^2) per token.
"""

from __future__ import annotations

from ... import functional as F
from ...autograd.ops_reduce import cumsum
from ...autograd.ops_shape import cat, tril
from ...nn import Linear, Module, RMSNorm
from ..heads import merge_heads, qkv_heads, split_heads
from ..registry import register
from ._scan_ops import gated_scan
from .linear_attention import _pad_time

FORMS = ("chunked", "recurrent", "loop")  # loop: recurrent_form_loop, the one to read


def recurrent_form(q, k, v, log_a):
    """S_t = diag(alpha_t) S_{t-1} + k_t^T v_t, o_t = q_t S_t, token by token, as one
    autograd node over the Numba scan (minitx.kernels.gated_scan): O(T D^2), no graph per
    token."""
    return gated_scan(q, k, v, log_a)  # (B, H, T, Dv)


def recurrent_form_loop(q, k, v, log_a):
    """The same recurrence as a Python loop of autograd ops, the form to read."""
    S, outs = None, []
    for q_t, k_t, v_t, la_t in zip(*(x.split(1, dim=2) for x in (q, k, v, log_a))):
        write = k_t.mT @ v_t  # (B, H, Dk, Dv)
        S = write if S is None else la_t.exp().mT * S + write  # alpha_t as a column
        outs.append(q_t @ S)
    return cat(outs, dim=2)


def chunked_form(q, k, v, log_a, chunk_size=16):
    """The chunkwise-parallel GLA: intra-chunk gated scores, the state across chunks."""
    B, H, T, D = q.shape
    C = min(chunk_size, T)
    N = -(-T // C)
    pad = N * C - T
    if pad:  # padded steps: zero keys (write nothing), log alpha = 0 (forget nothing)
        q, k, v, log_a = (_pad_time(x, pad) for x in (q, k, v, log_a))
    qc, kc, vc, lc = (x.reshape(B, H, N, C, x.shape[-1]) for x in (q, k, v, log_a))
    b = cumsum(lc, 3)  # b_t from the chunk's start   (B, H, N, C, D)
    q_in, k_in = qc * b.exp(), kc * (-b).exp()
    intra = tril(q_in @ k_in.mT) @ vc  # (B, H, N, C, Dv)
    b_end = b[:, :, :, C - 1:, :]  # b_C   (B, H, N, 1, D)
    k_to_end = kc * (b_end - b).exp()  # k_s * e^{b_C - b_s}
    S, outs = None, []
    parts = (q_in, intra, k_to_end, vc, b_end)
    for q_n, intra_n, k_n, v_n, b_n in zip(*(x.split(1, dim=2) for x in parts)):
        q_n, intra_n, k_n, v_n, b_n = (x.squeeze(2) for x in (q_n, intra_n, k_n, v_n, b_n))
        outs.append(intra_n if S is None else q_n @ S + intra_n)
        write = k_n.mT @ v_n
        S = write if S is None else b_n.exp().mT * S + write
    y = cat(outs, dim=2)
    return y[:, :, :T] if pad else y


class _GLABranch(Module):
    """Projections of one GLA direction: q, k, v and the low-rank forget gate."""

    def __init__(self, d_model, n_heads, gate_rank, tau, bias):
        super().__init__()
        self.n_heads, self.head_dim, self.tau = n_heads, d_model // n_heads, tau
        self.qkv = Linear(d_model, 3 * d_model, bias=bias)
        self.gate_down = Linear(d_model, gate_rank, bias=False)  # W_a1
        self.gate_up = Linear(gate_rank, d_model, bias=True)  # W_a2, b

    def forward(self, x):
        """x (B, T, C) -> q, k, v, log alpha, each (B, H, T, D)."""
        q, k, v = qkv_heads(self.qkv(x), self.n_heads)
        log_a = -F.softplus(-self.gate_up(self.gate_down(x))) * (1.0 / self.tau)  # log sigmoid
        return q, k * self.head_dim ** -0.5, v, split_heads(log_a, self.n_heads)


@register("gla")
class GatedLinearAttention(Module):
    """GLA token mixer: gated state, chunkwise training, RMSNorm then an output gate
    silu(x W_g). Cost O(T C D + T D^2); ``step`` O(D^2) per token."""

    def __init__(self, d_model, n_heads=1, causal=True, form="chunked", chunk_size=16,
                 gate_rank=16, tau=16.0, bias=True):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"gla: d_model {d_model} is not divisible by n_heads {n_heads}")
        if form not in FORMS:
            raise ValueError(f"gla: unknown form {form!r} (accepted: {', '.join(FORMS)})")
        if chunk_size < 1 or tau <= 0:
            raise ValueError(f"gla: chunk_size must be >= 1 and tau > 0, got {chunk_size}, {tau}")
        if not causal and not getattr(self, "bidirectional", False):
            raise ValueError("gla: the gated recurrence runs forwards in time and needs "
                             "causal=True; use 'bigla' for a bidirectional mixer")
        self.d_model, self.causal, self.form, self.chunk_size = d_model, causal, form, chunk_size
        self.forward_branch = _GLABranch(d_model, n_heads, gate_rank, tau, bias)
        self.norm = RMSNorm(d_model)
        self.gate = Linear(d_model, d_model, bias=bias)  # W_g, the output gate
        self.out = Linear(d_model, d_model, bias=bias)

    def _run(self, branch, x, form):
        q, k, v, log_a = branch(x)
        if form == "chunked":
            y = chunked_form(q, k, v, log_a, self.chunk_size)
        else:
            y = (recurrent_form_loop if form == "loop" else recurrent_form)(q, k, v, log_a)
        return merge_heads(y)

    def _output(self, y, x):
        return self.out(self.norm(y) * F.silu(self.gate(x)))

    def forward(self, x, form=None):
        return self._output(self._run(self.forward_branch, x, form or self.form), x)

    def init_state(self, batch):
        return {"S": None}

    def step(self, x_t, state):
        q, k, v, log_a = self.forward_branch(x_t.unsqueeze(1))  # (B, H, 1, D)
        S = k.mT @ v if state["S"] is None else log_a.exp().mT * state["S"] + k.mT @ v
        y = (q @ S).reshape(x_t.shape[0], 1, self.d_model)
        return self._output(y, x_t.unsqueeze(1)).reshape(x_t.shape), {"S": S}


@register("bigla")
class BidirectionalGLA(GatedLinearAttention):
    """ViG's bidirectional GLA: a forward and a backward GLA branch (own projections and
    gates) over the same tokens, summed before the norm and output gate. Every token sees
    the whole sequence, so it cannot decode one token at a time. Cost O(T C D + T D^2)."""

    causal_capable = False
    bidirectional = True

    def __init__(self, d_model, n_heads=1, causal=False, form="chunked", chunk_size=16,
                 gate_rank=16, tau=16.0, bias=True):
        if causal:
            raise ValueError("bigla: bidirectional by construction; build it with causal=False "
                             "(use 'gla' for a causal mixer)")
        super().__init__(d_model, n_heads, causal=False, form=form, chunk_size=chunk_size,
                         gate_rank=gate_rank, tau=tau, bias=bias)
        self.backward_branch = _GLABranch(d_model, n_heads, gate_rank, tau, bias)

    def forward(self, x, form=None):
        form = form or self.form
        ahead = self._run(self.forward_branch, x, form)
        behind = self._run(self.backward_branch, x.flip(1), form).flip(1)
        return self._output(ahead + behind, x)

    def init_state(self, batch):
        raise ValueError("bigla: bidirectional, so there is no token-by-token form")

    def step(self, x_t, state):
        raise ValueError("bigla: bidirectional, so there is no token-by-token form")
