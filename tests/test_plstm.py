"""1-D pLSTM: the parallel form (materialised gating matrix) equals a brute-force double loop
over the paper's sum with explicit gate products, equals the chunkwise form and the
recurrence, passes gradcheck in float64, and stays finite on long sequences with small
transitions."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minitx
from minitx import mixers
from minitx.autograd import gradcheck


def small(seed=0, d_model=6, n_heads=2, **opts):
    minitx.manual_seed(seed)
    return mixers.build("plstm", d_model=d_model, n_heads=n_heads, **opts).double()


def sig(a):
    return 1 / (1 + np.exp(-a))


def by_loops(m, x):
    """y_t = sum_{s<t} M_t (prod_{r=s+1}^{t-1} T_r) S_s (q_t.k_s) v_s + D_t (q_t.k_t) v_t,
    all over sqrt(d), one (b, t, s, head) at a time."""
    w = {n: p.data for n, p in m.named_parameters()}
    H, d, C = m.H, m.d, m.d_model
    qkv = x @ w["qkv.weight"].T
    q, k, v = (qkv[..., i * C:(i + 1) * C].reshape(*x.shape[:2], H, d) for i in range(3))
    g = sig(x @ w["gates.weight"].T + w["gates.bias"])
    S, Tg, M, D = (g[..., i * H:(i + 1) * H] for i in range(4))
    y = np.zeros_like(q)
    for b in range(x.shape[0]):
        for t in range(x.shape[1]):
            for h in range(H):
                for s in range(t + 1):
                    gate = D[b, t, h] if s == t else \
                        M[b, t, h] * np.prod(Tg[b, s + 1:t, h]) * S[b, s, h]
                    y[b, t, h] += gate * (q[b, t, h] @ k[b, s, h]) / math.sqrt(d) * v[b, s, h]
    return y.reshape(*x.shape[:2], C) @ w["out.weight"].T


def test_parallel_form_equals_brute_force_loops():
    m = small(1, transition_bias=0.0)  # transitions near 1/2: the products matter
    x = np.random.default_rng(2).standard_normal((2, 6, 6))
    np.testing.assert_allclose(m(minitx.tensor(x)).data, by_loops(m, x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("heads", [1, 3])
def test_recurrence_equals_parallel_form(heads):
    m = small(3, n_heads=heads, transition_bias=-1.0)
    x = minitx.tensor(np.random.default_rng(4).standard_normal((2, 11, 6)))
    C, outs = m.init_state(2), []
    for t in range(11):
        y, C = m.step(x[:, t], C)
        outs.append(y.data)
    np.testing.assert_allclose(np.stack(outs, 1), m(x).data, rtol=1e-9, atol=1e-12)
    assert C.shape == (2, heads, 6 // heads, 6 // heads)


@pytest.mark.parametrize("chunk", [1, 3, 4, 11, 16])
def test_chunkwise_form_equals_parallel_form(chunk):
    m = small(9, transition_bias=-0.5)
    x = minitx.tensor(np.random.default_rng(10).standard_normal((2, 11, 6)))
    np.testing.assert_allclose(m.chunked(x, chunk).data, m(x).data, rtol=1e-9, atol=1e-12)
    mc = small(9, transition_bias=-0.5, chunk=chunk)  # the option routes forward to it
    np.testing.assert_allclose(mc(x).data, m(x).data, rtol=1e-9, atol=1e-12)


def test_gradcheck_chunkwise_form():
    m = small(11, transition_bias=0.5, chunk=2)
    x = minitx.tensor(np.random.default_rng(12).standard_normal((1, 5, 6)), requires_grad=True)
    assert gradcheck(lambda x, *p: m(x), [x, m.gates.weight, m.gates.bias, m.qkv.weight])


def test_gradcheck_parallel_form():
    m = small(5, transition_bias=0.5)
    x = minitx.tensor(np.random.default_rng(6).standard_normal((1, 5, 6)), requires_grad=True)
    assert gradcheck(lambda x, *p: m(x), [x, m.gates.weight, m.gates.bias, m.qkv.weight])


def test_long_sequence_with_tiny_transitions_stays_finite_and_equal():
    m = small(7, transition_bias=-12.0)  # T ~ 6e-6: products underflow, nothing may overflow
    x = minitx.tensor(np.random.default_rng(8).standard_normal((1, 200, 6)))
    y = m(x).data
    assert np.isfinite(y).all()
    np.testing.assert_allclose(m.chunked(x, 16).data, y, rtol=1e-9, atol=1e-12)
    C, last = m.init_state(1), None
    for t in range(200):
        last, C = m.step(x[:, t], C)
    np.testing.assert_allclose(last.data, y[:, -1], rtol=1e-9, atol=1e-12)


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="causal"):
        mixers.build("plstm", d_model=8, causal=False)
    with pytest.raises(ValueError, match="n_heads 3"):
        mixers.build("plstm", d_model=8, n_heads=3)
    with pytest.raises(ValueError, match="chunk"):
        mixers.build("plstm", d_model=8, chunk=0)
