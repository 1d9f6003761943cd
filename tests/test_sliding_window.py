"""Sliding-window attention with global tokens: the blocked computation equals softmax
attention under the visibility definition (both directions, windows that do and do not
divide T, more globals than a window), decoding equals it, gradients check."""

import numpy as np
import pytest

import minitx
from minitx import mixers
from minitx.mixers.sparse import sliding_window as sw


def build(causal=True, **options):
    minitx.manual_seed(0)
    return mixers.build("sliding-window", d_model=8, n_heads=2, causal=causal, **options).double()


def masked_softmax_output(m, x):
    M = m.mixing_matrix(x)  # softmax under visible_mask, by the definition
    B, T, C = x.shape
    v = m.qkv(x).split(C, -1)[2].data.reshape(B, T, 2, 4).transpose(0, 2, 1, 3)
    heads = np.einsum("bhts,bhsd->bhtd", M, v).transpose(0, 2, 1, 3).reshape(B, T, C)
    return m.out(minitx.tensor(heads, dtype="float64")).data


CASES = [(9, 3, 0), (10, 4, 2), (7, 16, 1), (12, 4, 5), (1, 2, 1)]


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("T, window, n_global", CASES)
def test_blocked_equals_the_masked_definition(causal, T, window, n_global):
    m = build(causal, window=window, n_global=n_global)
    x = minitx.tensor(np.random.default_rng(T).standard_normal((2, T, 8)), dtype="float64")
    np.testing.assert_allclose(m(x).data, masked_softmax_output(m, x), atol=1e-12)


def test_visibility_definition():
    vis = sw.visible_mask(6, 2, 1, causal=True)
    assert vis[5].tolist() == [True, False, False, False, True, True]  # global 0, then 4, 5
    assert not np.triu(vis, 1).any()
    both = sw.visible_mask(6, 2, 1, causal=False)
    assert both[0].all() and both[:, 0].all() and both[3].tolist() == [1, 0, 1, 1, 1, 0]


@pytest.mark.parametrize("T, window, n_global", [(10, 4, 2), (6, 2, 3)])
def test_step_equals_forward(T, window, n_global):
    m = build(window=window, n_global=n_global)
    x = minitx.tensor(np.random.default_rng(1).standard_normal((2, T, 8)), dtype="float64")
    state, outs = m.init_state(2), []
    for t in range(T):
        y, state = m.step(x[:, t], state)
        outs.append(y.data)
    np.testing.assert_allclose(np.stack(outs, 1), m(x).data, atol=1e-12)
    assert len(state["recent"]) == window and len(state["global"]) == n_global


@pytest.mark.parametrize("causal", [True, False])
def test_gradcheck(causal):
    m = build(causal, window=3, n_global=1)
    x = minitx.tensor(np.random.default_rng(2).standard_normal((1, 7, 8)), dtype="float64",
                      requires_grad=True)
    assert minitx.gradcheck(lambda x, b: m(x), [x, m.qkv.bias])


def test_bad_window():
    with pytest.raises(ValueError, match="window"):
        mixers.build("sliding-window", d_model=8, n_heads=2, window=0)
