"""Monarch Mixer (M2): sequence mixing by a Monarch matrix, two block-diagonal GEMMs.

Paper: "Monarch Mixer: A Simple Sub-Quadratic GEMM-Based Architecture" (Fu et al.). An
order-2 Monarch matrix on n = b^2 points is M = P L P^T R: R and L are block-diagonal
with b blocks of size b x b and P is the permutation that transposes a b x b grid. A
product M x therefore costs two batched (b x b) matrix products, O(n^1.5), and M has
2 n^1.5 parameters instead of n^2. The DFT is a Monarch matrix (the "four-step" FFT:
b-point DFTs down the columns, twiddle factors, b-point DFTs along the rows), so long
convolutions are Monarch products too; ``dft_factors`` builds those blocks.

Here, with x laid out as a b x b grid X[j1, j2] (x[b j1 + j2]):
    step R:  column j2 of X is multiplied by its block R[j2]        -> A[k1, j2]
    step L:  row k1 of A is multiplied by its block L[k1]            -> Y[k1, k2]
    output:  y[k1 + b k2] = Y[k1, k2]
(the grid transposes are the P's).

The mixer ("monarch") mixes the time axis with a learned Monarch matrix, gated as in M2:
y = W_o ((x W_u) * M (x W_v)), sequences up to n = b^2 (shorter ones zero-padded). A
general M mixes all positions, so it is bidirectional (``causal_capable = False``); M2's
causal model is a Monarch-FFT long convolution, the operation of minitx's Hyena and S4
mixers.

Glossary (code -> paper):
    blocks_r, blocks_l   (b, b, b)   R and L, one (b x b) block per column / row
    b                    sqrt(n), n = max_len rounded up to a square
Cost: O(T^1.5 C) for the mixing, O(T C^2) for the projections.
"""

from __future__ import annotations

import math

import numpy as np

from ...autograd.ops_linalg import einsum
from ...autograd.ops_shape import cat
from ...autograd.tensor import Tensor
from ...nn import Linear, Module, Parameter
from ..registry import register


def monarch_multiply(x, blocks_r, blocks_l):
    """M x along the time axis: x (B, n, C) with n = b^2, blocks (b, b, b); Tensors or arrays."""
    b = blocks_r.shape[0]
    B, n, C = x.shape
    ein = einsum if isinstance(x, Tensor) or isinstance(blocks_r, Tensor) else np.einsum
    grid = x.reshape(B, b, b, C)  # X[j1, j2, c]
    A = ein("qkj,bjqc->bkqc", blocks_r, grid)  # column q = j2: A[:, j2] = R[j2] X[:, j2]
    Y = ein("kpq,bkqc->bkpc", blocks_l, A)  # row k1: Y[k1, :] = L[k1] A[k1, :]
    Y = Y.transpose(1, 2) if isinstance(Y, Tensor) else Y.transpose(0, 2, 1, 3)
    return Y.reshape(B, n, C)  # y[k1 + b k2] = Y[k1, k2]


def dense_monarch(blocks_r, blocks_l):
    """The n x n matrix of ``monarch_multiply`` (column j = M e_j), for tests and pictures."""
    n = blocks_r.shape[0] ** 2
    basis = np.eye(n, dtype=np.result_type(blocks_r, blocks_l))[:, :, None]  # (n, n, 1): e_j
    return monarch_multiply(basis, blocks_r, blocks_l)[:, :, 0].T


def dft_factors(b):
    """Monarch blocks whose product is the n-point DFT, n = b^2 (the four-step FFT):
    R[j2] = F_b, L[k1][k2, j2] = w_b^(j2 k2) w_n^(j2 k1), w_m = exp(-2 pi i / m)."""
    n = b * b
    j = np.arange(b)
    F = np.exp(-2j * np.pi * np.outer(j, j) / b)  # F_b[k, j]
    blocks_r = np.broadcast_to(F, (b, b, b)).copy()
    twiddle = np.exp(-2j * np.pi * np.outer(j, j) / n)  # w_n^(k1 j2)   [k1, j2]
    blocks_l = F[None, :, :] * twiddle[:, None, :]  # L[k1][k2, j2]
    return blocks_r, blocks_l


@register("monarch")
class MonarchMixer(Module):
    """Gated Monarch sequence mixing (bidirectional). Cost O(T^1.5 C + T C^2)."""

    causal_capable = False

    def __init__(self, d_model, n_heads=1, causal=False, max_len=256, seed=0, bias=True):
        super().__init__()
        if causal:
            raise ValueError("monarch: a learned Monarch matrix mixes all positions; build it "
                             "with causal=False (M2's causal form is a Monarch-FFT long "
                             "convolution: see the hyena and s4 mixers)")
        b = math.isqrt(max_len - 1) + 1 if max_len > 1 else 1
        self.d_model, self.max_len, self.b, self.causal = d_model, b * b, b, False
        rng = np.random.default_rng(seed)
        self.blocks_r = Parameter(rng.standard_normal((b, b, b)) / np.sqrt(b))
        self.blocks_l = Parameter(rng.standard_normal((b, b, b)) / np.sqrt(b))
        self.proj = Linear(d_model, 2 * d_model, bias=bias)  # W_u, W_v
        self.out = Linear(d_model, d_model, bias=bias)

    def forward(self, x):
        B, T, C = x.shape
        if T > self.max_len:
            raise ValueError(f"monarch: sequence length {T} exceeds max_len {self.max_len}")
        u, v = self.proj(x).split(C, -1)
        if T < self.max_len:  # zero-pad the time axis up to b^2
            v = cat([v, Tensor(np.zeros((B, self.max_len - T, C), v.dtype))], dim=1)
        mixed = monarch_multiply(v, self.blocks_r, self.blocks_l)[:, :T]  # (B, T, C)
        return self.out(u * mixed)

    def mixing_matrix(self, x):
        """(T, T): the part of M that maps the T real positions to themselves."""
        T = x.shape[1]
        return dense_monarch(self.blocks_r.data, self.blocks_l.data)[:T, :T]
