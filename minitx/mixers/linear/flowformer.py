"""Flowformer: linear attention made competitive by conserving flows.

Paper: "Flowformer: Linearizing Transformers with Conservation Flows" (Wu et al.).
Attention is read as a flow network: values are sources, outputs are sinks, and
phi(q_i) . phi(k_j) is the capacity between them. Plain linear attention lets every
source pour out without limit, so nothing forces keys to compete (softmax's job).
Flowformer fixes the flows in and out to constants and uses the conserved flows as
competition (among sources) and allocation (among sinks), all in O(T):

    incoming of sink i      I_i = phi(q_i) . sum_j phi(k_j)
    outgoing of source j    O_j = phi(k_j) . sum_i phi(q_i)
    conserved incoming      I^_i = phi(q_i) . sum_j phi(k_j) / O_j
    conserved outgoing      O^_j = phi(k_j) . sum_i phi(q_i) / I_i
    competition             v^_j = softmax_j(O^) * T * v_j
    allocation              y_i = sigmoid(I^_i) * (phi(q_i) / I_i) . sum_j phi(k_j)^T v^_j

phi = sigmoid. Causal form (the paper's autoregressive variant): every sum runs over
j <= i and is scaled by the n_i = i + 1 terms it has, so flows are averages; the
softmax over sources becomes exp(O^_j) / sum_{j' <= j} exp(O^_j') * n_j, with O^ clipped
to [-10, 10] as the authors do for stability.

Glossary (code -> paper):
    fq, fk       (B, H, T, D)   phi(Q), phi(K)
    incoming     (B, H, T, 1)   I,  outgoing O
    conserved_in, conserved_out (B, H, T, 1): I^, O^
    n            (T, 1)         1 .. T, the number of terms in each causal sum
Cost: O(T D^2) (the final product is unnormalised causal linear attention).
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ...autograd.ops_reduce import cumsum
from ...autograd.tensor import Tensor
from ...nn import Linear, Module
from ..heads import merge_heads, qkv_heads
from ..registry import register
from .transnormer import lightning_form

EPS = 1e-6


def _dot(a, b):
    return (a * b).sum(-1, keepdim=True)  # row-wise dot product, (..., T, 1)


def flow_attention(fq, fk, v):
    """Non-causal Flow-Attention on features (B, H, T, D)."""
    T = fq.shape[2]
    incoming = _dot(fq, fk.sum(2, keepdim=True)) + EPS
    outgoing = _dot(fk, fq.sum(2, keepdim=True)) + EPS
    conserved_in = _dot(fq, (fk / outgoing).sum(2, keepdim=True))
    conserved_out = _dot(fk, (fq / incoming).sum(2, keepdim=True))
    competition = F.softmax(conserved_out, dim=2) * T  # (B, H, T, 1)
    kv = fk.mT @ (v * competition)  # (B, H, D, Dv)
    return F.sigmoid(conserved_in) * ((fq / incoming) @ kv)


def causal_flow_attention(fq, fk, v, chunk_size=64):
    """Causal Flow-Attention: sums over the past, averaged by their number of terms."""
    T = fq.shape[2]
    n = Tensor(np.arange(1, T + 1, dtype=fq.dtype)[:, None])  # (T, 1)
    incoming = _dot(fq, cumsum(fk, 2)) / n + EPS  # average inflow of sink i
    outgoing = _dot(fk, cumsum(fq, 2)) / n + EPS
    conserved_in = _dot(fq, cumsum(fk / outgoing, 2)) / n
    conserved_out = _dot(fk, cumsum(fq / incoming, 2)) / n
    conserved_out = conserved_out.clamp(-10.0, 10.0)
    weight = conserved_out.exp()
    competition = weight / cumsum(weight, 2) * n  # a running softmax over sources j' <= j
    H = fq.shape[1]
    mixed = lightning_form(fq / (incoming * n), fk, v * competition, np.ones(H), chunk_size)
    return F.sigmoid(conserved_in) * mixed


@register("flowformer")
class Flowformer(Module):
    """Flow-Attention token mixer. Cost O(T D^2) in either direction."""

    def __init__(self, d_model, n_heads=1, causal=True, chunk_size=64, bias=True):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"flowformer: d_model {d_model} is not divisible by n_heads "
                             f"{n_heads}")
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, d_model // n_heads
        self.causal, self.chunk_size = causal, chunk_size
        self.qkv = Linear(d_model, 3 * d_model, bias=bias)
        self.out = Linear(d_model, d_model, bias=bias)

    def forward(self, x):
        q, k, v = qkv_heads(self.qkv(x), self.n_heads)
        fq, fk = F.sigmoid(q), F.sigmoid(k)
        y = causal_flow_attention(fq, fk, v, self.chunk_size) if self.causal else \
            flow_attention(fq, fk, v)
        return self.out(merge_heads(y))
