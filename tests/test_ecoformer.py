"""EcoFormer: the Hamming identity behind it, binary features whose dot product counts
agreeing bits, the mixer equal to attention weighted by agreeing bits, and the
straight-through sign."""

import numpy as np
import pytest

import minitx
from minitx import mixers
from minitx.mixers.linear import ecoformer as eco


def build(**options):
    minitx.manual_seed(0)
    return mixers.build("ecoformer", d_model=12, n_heads=2, chunk_size=4, **options).double()


def test_code_dot_product_is_bits_minus_twice_hamming():
    rng = np.random.default_rng(0)
    a, b = rng.choice([-1.0, 1.0], (5, 16)), rng.choice([-1.0, 1.0], (7, 16))
    np.testing.assert_array_equal(a @ b.T, 16 - 2 * eco.hamming(a, b))


def test_features_count_agreeing_bits():
    m = build(n_bits=8)
    x = minitx.tensor(np.random.default_rng(1).standard_normal((1, 6, 12)), dtype="float64")
    fq, fk, _ = m._features(x)
    assert set(np.unique(fq.data)) <= {0.0, 1.0}
    B, T = 1, 6
    q, k, _ = (t.reshape(B, T, 2, 6).transpose(1, 2) for t in m.qkv(x).split(12, -1))
    agree = 8 - eco.hamming(m.codes(q).data, m.codes(k).data)
    np.testing.assert_allclose(fq.data @ fk.data.transpose(0, 1, 3, 2), agree)


def test_mixer_is_attention_weighted_by_agreeing_bits():
    m = build(n_bits=8)
    x = minitx.tensor(np.random.default_rng(2).standard_normal((2, 7, 12)), dtype="float64")
    B, T, C = x.shape
    q, k, v = (t.reshape(B, T, 2, 6).transpose(1, 2) for t in m.qkv(x).split(12, -1))
    weights = np.tril(8 - eco.hamming(m.codes(q).data, m.codes(k).data)).astype(float)
    weights /= weights.sum(-1, keepdims=True) + m.eps
    heads = (weights @ v.data).transpose(0, 2, 1, 3).reshape(B, T, C)
    np.testing.assert_allclose(m(x).data, m.out(minitx.tensor(heads, dtype="float64")).data,
                               atol=1e-10)
    for form in ("parallel", "recurrent"):
        np.testing.assert_allclose(m(x, form=form).data, m(x).data, atol=1e-10)


def test_sign_is_straight_through():
    x = minitx.tensor(np.array([-2.0, -0.1, 0.0, 0.3]), dtype="float64", requires_grad=True)
    y = eco.SignSTE.apply(x)
    np.testing.assert_array_equal(y.data, [-1, -1, 1, 1])
    (y * minitx.tensor(np.array([1.0, 2.0, 3.0, 4.0]), dtype="float64")).sum().backward()
    np.testing.assert_array_equal(x.grad, [1, 2, 3, 4])


def test_similarity_loss_is_differentiable_in_the_hash_parameters():
    m = build()
    x = minitx.tensor(np.random.default_rng(3).standard_normal((2, 8, 12)), dtype="float64")
    loss = m.similarity_loss(x)
    loss.backward()
    assert 0 <= loss.item() <= 1 and np.abs(m.hash_proj.grad).sum() > 0


def test_bad_options():
    with pytest.raises(ValueError, match="n_bits"):
        mixers.build("ecoformer", d_model=12, n_heads=2, n_bits=0)
