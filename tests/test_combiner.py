"""Combiner-Fixed: the output is attention under the factorised distribution
p(j | i) = direct in the own block, p(r | i) q(j | r) for earlier blocks, computed here
weight by weight; every earlier token keeps non-zero weight (full support); gradients."""

import numpy as np
import pytest

import minitx
from minitx import mixers


def build(block=3):
    minitx.manual_seed(0)
    m = mixers.build("combiner", d_model=8, n_heads=2, block=block).double()
    m.summary_query.data[:] = np.random.default_rng(5).standard_normal(m.summary_query.shape)
    return m


def factorised_weights(m, x):
    """(B, H, T, T) weights p(j | i) by the definition."""
    B, T, C = x.shape
    q, k, v = (a.reshape(B, T, 2, 4).transpose(0, 2, 1, 3) for a in np.split(m.qkv(x).data, 3, -1))
    w, u = m.block, m.summary_query.data
    P = np.zeros((B, 2, T, T))
    for b in range(B):
        for h in range(2):
            for i in range(T):
                n = i // w
                scores, parts = [], []
                for j in range(n * w, i + 1):  # direct
                    scores.append(q[b, h, i] @ k[b, h, j] / 2.0)
                    parts.append({j: 1.0})
                for r in range(n):  # indirect, through block r's summary
                    js = list(range(r * w, r * w + w))
                    inner = np.exp([u[h] @ k[b, h, j] for j in js])
                    inner /= inner.sum()
                    scores.append(q[b, h, i] @ k[b, h, js].mean(0) / 2.0)
                    parts.append(dict(zip(js, inner)))
                e = np.exp(np.array(scores) - max(scores))
                for weight, part in zip(e / e.sum(), parts):
                    for j, share in part.items():
                        P[b, h, i, j] += weight * share
    return P, v


@pytest.mark.parametrize("T", [9, 10])
def test_output_is_attention_under_the_factorised_distribution(T):
    m = build()
    x = minitx.tensor(np.random.default_rng(T).standard_normal((2, T, 8)), dtype="float64")
    P, v = factorised_weights(m, x)
    np.testing.assert_allclose(P.sum(-1), 1.0)
    assert (P[..., np.tril_indices(T)[0], np.tril_indices(T)[1]] > 0).all(), "full support"
    heads = np.einsum("bhts,bhsd->bhtd", P, v).transpose(0, 2, 1, 3).reshape(2, T, 8)
    np.testing.assert_allclose(m(x).data, m.out(minitx.tensor(heads, dtype="float64")).data,
                               atol=1e-12)


def test_gradcheck():
    m = build(block=2)
    x = minitx.tensor(np.random.default_rng(1).standard_normal((1, 5, 8)), dtype="float64",
                      requires_grad=True)
    assert minitx.gradcheck(lambda x, u: m(x), [x, m.summary_query])
