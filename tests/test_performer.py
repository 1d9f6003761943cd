"""Performer (FAVOR+): the random features estimate the softmax kernel without bias, the
error falls as features are added, the mixer approaches softmax attention, and its forms
agree with each other and with finite-difference gradients."""

import numpy as np
import pytest

import minitx
import minitx.functional as F
from minitx import mixers
from minitx.mixers.linear import performer as pf


def test_orthogonal_features_are_orthogonal_in_blocks_with_gaussian_lengths():
    omega = pf.orthogonal_gaussian(40, 8, np.random.default_rng(0))
    assert omega.shape == (40, 8)
    block = omega[:8] / np.linalg.norm(omega[:8], axis=1, keepdims=True)
    np.testing.assert_allclose(block @ block.T, np.eye(8), atol=1e-12)
    lengths = (pf.orthogonal_gaussian(4000, 8, np.random.default_rng(1)) ** 2).sum(1)
    assert abs(lengths.mean() - 8) < 0.3, "|w|^2 of w ~ N(0, I_8) has mean 8"


def test_features_estimate_the_softmax_kernel_without_bias():
    rng = np.random.default_rng(2)
    q, k = 0.5 * rng.standard_normal((3, 4)), 0.5 * rng.standard_normal((3, 4))
    exact = np.exp(q @ k.T / 2.0)
    estimates = []
    for seed in range(1000):
        omega = pf.orthogonal_gaussian(8, 4, np.random.default_rng(seed))
        phi = lambda x: np.exp(x / np.sqrt(2) @ omega.T - 0.25 * (x * x).sum(-1, keepdims=True))
        estimates.append(phi(q) @ phi(k).T / 8)
    np.testing.assert_allclose(np.mean(estimates, 0), exact, rtol=0.05)


def test_kernel_error_falls_as_features_are_added():
    rng = np.random.default_rng(3)
    q, k = 0.7 * rng.standard_normal((16, 8)), 0.7 * rng.standard_normal((16, 8))
    err = {m: np.mean([pf.softmax_kernel_error(q, k, m, np.random.default_rng(s))
                       for s in range(6)]) for m in (8, 128, 2048)}
    assert err[2048] < err[128] < err[8]
    assert err[2048] < 0.4 * err[8]


def performer_and_softmax(n_features, x):
    minitx.manual_seed(0)
    mix = mixers.build("performer", d_model=16, n_heads=2, n_features=n_features).double()
    B, T, C = x.shape
    q, k, v = (t.reshape(B, T, 2, 8).transpose(1, 2) for t in mix.qkv(x).split(16, -1))
    exact = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return mix(x).data, mix.out(exact.transpose(1, 2).reshape(B, T, C)).data


def test_mixer_approaches_softmax_attention_with_more_features():
    x = minitx.tensor(0.5 * np.random.default_rng(4).standard_normal((2, 8, 16)), dtype="float64")
    errors = []
    for m in (4, 4096):
        approx, exact = performer_and_softmax(m, x)
        errors.append(np.abs(approx - exact).mean())
    assert errors[1] < 0.25 * errors[0], errors


@pytest.mark.parametrize("form", ["parallel", "recurrent"])
def test_forms_agree(form):
    minitx.manual_seed(0)
    mix = mixers.build("performer", d_model=16, n_heads=2, n_features=12, chunk_size=3).double()
    x = minitx.tensor(np.random.default_rng(5).standard_normal((2, 7, 16)), dtype="float64")
    np.testing.assert_allclose(mix(x, form=form).data, mix(x).data, atol=1e-11)


def test_gradcheck():
    minitx.manual_seed(0)
    mix = mixers.build("performer", d_model=8, n_heads=2, n_features=6, chunk_size=3).double()
    x = minitx.tensor(np.random.default_rng(6).standard_normal((1, 5, 8)), dtype="float64")
    x.requires_grad = True
    assert minitx.gradcheck(lambda x, *ps: mix(x), [x, *mix.parameters()])


def test_bad_feature_count():
    with pytest.raises(ValueError, match="n_features"):
        mixers.build("performer", d_model=8, n_heads=2, n_features=0)
