"""Linformer (with Greenformers' low-rank weights) and Informer's ProbSparse attention,
each against a direct NumPy computation, plus the property its paper is about."""

import math

import numpy as np
import pytest

import minitx
from minitx import mixers


def build(name, **options):
    minitx.manual_seed(0)
    return mixers.build(name, d_model=8, n_heads=2, causal=False, **options).double()


def heads(m, x):
    B, T, C = x.shape
    q, k, v = np.split(m.qkv(x).data, 3, -1)
    return [a.reshape(B, T, 2, 4).transpose(0, 2, 1, 3) for a in (q, k, v)]


def softmax(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def finish(m, y):
    B, H, T, D = y.shape
    return m.out(minitx.tensor(y.transpose(0, 2, 1, 3).reshape(B, T, H * D), dtype="float64")).data


def test_linformer_equals_projected_attention_and_has_low_rank():
    m = build("linformer", max_len=16, rank=3)
    x = minitx.tensor(np.random.default_rng(0).standard_normal((2, 10, 8)), dtype="float64")
    q, k, v = heads(m, x)
    E, Fp = m.proj_k.data[:, :10], m.proj_v.data[:, :10]
    want = softmax(q @ (E @ k).transpose(0, 1, 3, 2) / 2.0) @ (Fp @ v)
    np.testing.assert_allclose(m(x).data, finish(m, want), atol=1e-12)
    M = m.mixing_matrix(x)
    assert M.shape == (2, 2, 10, 10) and np.linalg.matrix_rank(M[0, 0]) <= 3


def test_linformer_with_identity_projections_is_full_attention():
    m = build("linformer", max_len=6, rank=6)
    m.proj_k.data[:], m.proj_v.data[:] = np.eye(6), np.eye(6)
    x = minitx.tensor(np.random.default_rng(1).standard_normal((1, 6, 8)), dtype="float64")
    q, k, v = heads(m, x)
    np.testing.assert_allclose(m(x).data, finish(m, softmax(q @ k.transpose(0, 1, 3, 2) / 2) @ v),
                               atol=1e-12)


def test_greenformers_low_rank_weights_use_fewer_parameters():
    full, low = build("linformer", max_len=8, rank=4), build("linformer", max_len=8, rank=4,
                                                              weight_rank=2)
    count = lambda m: sum(p.data.size for p in m.parameters())
    assert count(low) < count(full)
    assert low(minitx.tensor(np.zeros((1, 8, 8)), dtype="float64")).shape == (1, 8, 8)


def test_linformer_checks_length_and_causality():
    with pytest.raises(ValueError, match="max_len"):
        build("linformer", max_len=4, rank=2)(minitx.tensor(np.zeros((1, 5, 8))))
    with pytest.raises(ValueError, match="causal"):
        mixers.build("linformer", d_model=8, n_heads=2, causal=True)


def test_probsparse_active_queries_attend_and_lazy_ones_average():
    m = build("probsparse", factor=1)
    T = 12
    x = minitx.tensor(np.random.default_rng(2).standard_normal((2, T, 8)), dtype="float64")
    q, k, v = heads(m, x)
    top = m.active_queries(*(minitx.tensor(a, dtype="float64") for a in (q, k)))
    assert top.shape[-1] == math.ceil(math.log(T))
    want = np.broadcast_to(v.mean(2, keepdims=True), v.shape).copy()
    full = softmax(q @ k.transpose(0, 1, 3, 2) / 2.0) @ v
    for b in range(2):
        for h in range(2):
            want[b, h, top[b, h]] = full[b, h, top[b, h]]
    np.testing.assert_allclose(m(x).data, finish(m, want), atol=1e-12)


def test_probsparse_picks_the_peaked_queries():
    m = build("probsparse", factor=1)
    q = np.zeros((1, 1, 12, 4))
    q[0, 0, 5] = [6.0, 0, 0, 0]  # one query aligned with one key: far from uniform
    k = np.random.default_rng(3).standard_normal((1, 1, 12, 4)) * 0.1
    k[0, 0, :, 0] = np.linspace(-1, 1, 12)
    top = m.active_queries(minitx.tensor(q, dtype="float64"), minitx.tensor(k, dtype="float64"))
    assert 5 in top[0, 0]


def test_gradcheck_both():
    for name, opts in (("linformer", {"max_len": 8, "rank": 3}), ("probsparse", {"factor": 1})):
        m = build(name, **opts)
        x = minitx.tensor(np.random.default_rng(4).standard_normal((1, 6, 8)), dtype="float64",
                          requires_grad=True)
        assert minitx.gradcheck(lambda x, b: m(x), [x, m.out.bias])
