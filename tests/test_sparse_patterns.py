"""Sparse Transformer's strided and fixed patterns and Information Pathways' sub-sampled
attention: the patterns against their definitions, the mixers equal to softmax restricted
to the pattern, decoding equal to it, and sub-sampling only in training."""

import numpy as np
import pytest

import minitx
from minitx import mixers
from minitx.mixers.sparse import patterns as pt


def test_strided_pattern_definition():
    P = pt.strided_pattern(10, 3)
    for i in range(10):
        for j in range(10):
            assert P[i, j] == (j <= i and (i - j < 3 or (i - j) % 3 == 0))


def test_fixed_pattern_definition():
    P = pt.fixed_pattern(10, 4, summary=1)
    for i in range(10):
        for j in range(10):
            assert P[i, j] == (j <= i and (i // 4 == j // 4 or j % 4 == 3))


def test_every_earlier_position_is_reachable_in_two_hops():
    for P in (pt.strided_pattern(30, 5), pt.fixed_pattern(30, 5)):
        two_hops = (P.astype(int) @ P.astype(int)) > 0
        assert two_hops[np.tril_indices(30)].all()
        assert P.sum() < 0.5 * 30 * 31 / 2  # much sparser than the causal triangle


@pytest.mark.parametrize("name, options", [("strided", {"stride": 3}),
                                           ("fixed", {"stride": 4, "summary": 2}),
                                           ("info-pathways", {"keep": 0.5}),
                                           ("s2-attention", {"group_size": 4, "n_sink": 1})])
def test_mixer_equals_softmax_under_the_pattern_and_decodes(name, options):
    minitx.manual_seed(0)
    m = mixers.build(name, d_model=8, n_heads=2, **options).double().eval()
    x = minitx.tensor(np.random.default_rng(0).standard_normal((2, 11, 8)), dtype="float64")
    M = m.mixing_matrix(x)
    B, T, C = x.shape
    v = m.qkv(x).split(C, -1)[2].data.reshape(B, T, 2, 4).transpose(0, 2, 1, 3)
    heads = np.einsum("bhts,bhsd->bhtd", M, v).transpose(0, 2, 1, 3).reshape(B, T, C)
    np.testing.assert_allclose(m(x).data, m.out(minitx.tensor(heads, dtype="float64")).data,
                               atol=1e-12)
    state, outs = m.init_state(2), []
    for t in range(T):
        y, state = m.step(x[:, t], state)
        outs.append(y.data)
    np.testing.assert_allclose(np.stack(outs, 1), m(x).data, atol=1e-12)


def test_info_pathways_subsamples_keys_in_training_only():
    minitx.manual_seed(0)
    m = mixers.build("info-pathways", d_model=8, n_heads=2, keep=0.3).double()
    mask = m.sampled_pattern(64, 20)
    kept = mask[:, 0][:, np.tril_indices(20, -1)[0], np.tril_indices(20, -1)[1]].mean()
    assert abs(kept - 0.3) < 0.05 and mask[:, 0].diagonal(axis1=1, axis2=2).all()
    assert not np.triu(mask[0, 0], 1).any()
    x = minitx.tensor(np.random.default_rng(1).standard_normal((2, 9, 8)), dtype="float64")
    assert not np.allclose(m(x).data, m(x).data)  # a fresh subset per call in training
    m.eval()
    np.testing.assert_array_equal(m(x).data, m(x).data)


def test_gradcheck_strided():
    minitx.manual_seed(0)
    m = mixers.build("strided", d_model=8, n_heads=2, stride=2).double()
    x = minitx.tensor(np.random.default_rng(2).standard_normal((1, 6, 8)), dtype="float64",
                      requires_grad=True)
    assert minitx.gradcheck(lambda x, b: m(x), [x, m.qkv.bias])


@pytest.mark.parametrize("name, options", [("strided", {"stride": 0}),
                                           ("fixed", {"stride": 4, "summary": 5}),
                                           ("info-pathways", {"keep": 0.0})])
def test_bad_options(name, options):
    with pytest.raises(ValueError):
        mixers.build(name, d_model=8, n_heads=2, **options)
