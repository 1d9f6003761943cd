"""Token mixers that are not attention: Monarch Mixer (the DFT is a Monarch product, the
product equals its dense matrix), PoNet's pools against direct definitions, MLP-Mixer and
TSMixer as masked maps along time; gradients for each."""

import numpy as np
import pytest

import minitx
from minitx import mixers
from minitx.mixers.sparse import monarch as mo
from minitx.mixers.sparse import ponet as po


def tensor(a, grad=False):
    return minitx.tensor(np.asarray(a, np.float64), dtype="float64", requires_grad=grad)


@pytest.mark.parametrize("b", [2, 3, 4])
def test_dft_is_a_monarch_product(b):
    R, L = mo.dft_factors(b)
    n = b * b
    np.testing.assert_allclose(mo.dense_monarch(R, L), np.fft.fft(np.eye(n), axis=0), atol=1e-12)


def test_monarch_multiply_equals_its_dense_matrix_and_is_cheap():
    rng = np.random.default_rng(0)
    R, L = rng.standard_normal((2, 4, 4, 4))
    x = rng.standard_normal((2, 16, 3))
    want = np.einsum("ij,bjc->bic", mo.dense_monarch(R, L), x)
    np.testing.assert_allclose(mo.monarch_multiply(x, R, L), want, atol=1e-12)
    np.testing.assert_allclose(mo.monarch_multiply(tensor(x), tensor(R), tensor(L)).data, want,
                               atol=1e-12)
    assert R.size + L.size == 2 * 16 ** 1.5 < 16 ** 2


def test_monarch_mixer_matches_its_matrix_and_gradchecks():
    minitx.manual_seed(0)
    m = mixers.build("monarch", d_model=4, causal=False, max_len=9).double()
    x = np.random.default_rng(1).standard_normal((2, 7, 4))
    u, v = np.split(m.proj(tensor(x)).data, 2, -1)
    want = m.out(tensor(u * np.einsum("ts,bsc->btc", m.mixing_matrix(tensor(x)), v))).data
    np.testing.assert_allclose(m(tensor(x)).data, want, atol=1e-12)
    xt = tensor(x[:1, :5], grad=True)
    assert minitx.gradcheck(lambda x, r, l: m(x), [xt, m.blocks_r, m.blocks_l])


def test_ponet_pools_by_definition():
    x = np.random.default_rng(2).standard_normal((1, 10, 3))
    lm = po.local_max(tensor(x), 3, causal=True).data
    sm = po.segment_max(tensor(x), 4, causal=True).data
    smb = po.segment_max(tensor(x), 4, causal=False).data
    for t in range(10):
        np.testing.assert_allclose(lm[0, t], x[0, max(0, t - 2):t + 1].max(0))
        np.testing.assert_allclose(sm[0, t], x[0, t - t % 4:t + 1].max(0))
        np.testing.assert_allclose(smb[0, t], x[0, t - t % 4:t - t % 4 + 4].max(0))
    centred = po.local_max(tensor(x), 3, causal=False).data
    np.testing.assert_allclose(centred[0, 4], x[0, 3:6].max(0))


def test_ponet_gradcheck():
    minitx.manual_seed(0)
    m = mixers.build("ponet", d_model=4, window=2, segment=3).double()
    x = tensor(np.random.default_rng(3).standard_normal((1, 6, 4)), grad=True)
    assert minitx.gradcheck(lambda x: m(x), [x])


@pytest.mark.parametrize("name", ["mlp-mixer", "tsmixer"])
def test_time_mixing_is_a_masked_map_along_time(name):
    minitx.manual_seed(0)
    m = mixers.build(name, d_model=4, max_len=8).double()
    x = np.random.default_rng(4).standard_normal((2, 6, 4))
    W = np.tril(m.mix1.data[:6, :6])
    np.testing.assert_array_equal(m.mixing_matrix(tensor(x)), W)
    first = W @ x + m.mix1_bias.data[:6]
    if name == "tsmixer":
        h = np.maximum(first, 0)
        want = h / (1 + np.exp(-(h @ m.gate.weight.data.T + m.gate.bias.data)))
    else:
        from math import erf
        g = first * 0.5 * (1 + np.vectorize(erf)(first / np.sqrt(2)))
        want = np.tril(m.mix2.data[:6, :6]) @ g + m.mix2_bias.data[:6]
    np.testing.assert_allclose(m(tensor(x)).data, want, atol=1e-10)
    xt = tensor(x[:1, :4], grad=True)
    assert minitx.gradcheck(lambda x, w: m(x), [xt, m.mix1])
    with pytest.raises(ValueError, match="max_len"):
        m(tensor(np.zeros((1, 9, 4))))
