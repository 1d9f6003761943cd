"""Hedgehog: the learned exponential feature map starts at the identity, the mixer's forms
agree, gradients check, and distilling the map against softmax brings its attention
weights closer to softmax's than they were, and than elu + 1's are."""

import numpy as np
import pytest

import minitx
from minitx import mixers
from minitx.optim import Adam


def build(name="hedgehog"):
    minitx.manual_seed(0)
    return mixers.build(name, d_model=16, n_heads=2, chunk_size=4).double()


def inputs(seed, T=12):
    return minitx.tensor(2 * np.random.default_rng(seed).standard_normal((4, T, 16)),
                         dtype="float64")


def test_features_are_the_exponential_pair_of_the_scaled_input():
    m, x = build(), np.random.default_rng(0).standard_normal((1, 2, 3, 8))
    phi = m.phi(minitx.tensor(x, dtype="float64"), is_query=False).data
    z = x * 8 ** -0.25  # W = I, b = 0 at the start
    np.testing.assert_allclose(phi, np.concatenate([np.exp(z), np.exp(-z)], -1), rtol=1e-12)


@pytest.mark.parametrize("form", ["parallel", "recurrent"])
def test_forms_agree(form):
    m, x = build(), inputs(1, T=9)
    np.testing.assert_allclose(m(x, form=form).data, m(x).data, atol=1e-11)


def test_gradcheck_through_the_feature_map():
    m = build()
    x = minitx.tensor(np.random.default_rng(2).standard_normal((1, 5, 16)), dtype="float64",
                      requires_grad=True)
    assert minitx.gradcheck(lambda x, w, b: m(x), [x, m.feature_weight, m.feature_bias])


def l1_to_softmax(weights, teacher):
    return np.abs(teacher - weights).sum(-1).mean()


def test_distillation_moves_the_weights_towards_softmax():
    m, train, held_out = build(), inputs(3), inputs(4)
    teacher, before = m.attention_weights(held_out)
    opt = Adam([m.feature_weight, m.feature_bias], lr=0.1)
    losses = []
    for _ in range(40):
        loss = m.distillation_loss(train)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.1, losses
    _, after = m.attention_weights(held_out)
    elu = build("linear")
    elu.qkv.weight.data[:], elu.qkv.bias.data[:] = m.qkv.weight.data, m.qkv.bias.data
    assert l1_to_softmax(after.data, teacher) < l1_to_softmax(before.data, teacher)
    assert l1_to_softmax(after.data, teacher) < l1_to_softmax(elu.mixing_matrix(held_out),
                                                              teacher)
