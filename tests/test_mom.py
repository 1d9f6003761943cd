"""Mixture-of-Memories: top-k routing, the block-feature parallel form equal to writing and
reading K separate memories plus a shared one token by token, gradients, options."""

import numpy as np
import pytest

import minitx
from minitx import mixers
from minitx.mixers.linear import mom


def build(**options):
    minitx.manual_seed(0)
    return mixers.build("mom", d_model=12, n_heads=2, chunk_size=4, **options).double()


def inputs(seed=0, T=9):
    return minitx.tensor(np.random.default_rng(seed).standard_normal((2, T, 12)), dtype="float64")


def test_gates_keep_top_k_and_sum_to_one():
    scores = minitx.tensor(np.random.default_rng(1).standard_normal((3, 5, 6)), dtype="float64")
    g = mom.top_k_gates(scores, 2).data
    assert ((g > 0).sum(-1) == 2).all()
    np.testing.assert_allclose(g.sum(-1), 1.0)
    top2 = np.sort(np.argsort(-scores.data, -1)[..., :2], -1)
    assert (np.sort(np.argsort(-g, -1)[..., :2], -1) == top2).all()


def test_parallel_form_equals_separate_memories():
    m, x = build(n_memories=3, top_k=2), inputs()
    q, k, v, gates = (t.data for t in m._inputs(x))
    B, H, T, D = q.shape
    S = np.zeros((B, H, 4, D, D))  # 3 routed memories + the shared one
    heads = np.zeros((B, H, T, D))
    for t in range(T):
        w = np.concatenate([gates[:, :, t], np.ones((B, H, 1))], -1)  # (B, H, 4)
        S += w[..., None, None] * np.einsum("bhd,bhe->bhde", k[:, :, t], v[:, :, t])[:, :, None]
        heads[:, :, t] = np.einsum("bhm,bhd,bhmde->bhe", w, q[:, :, t], S)
    y = heads.transpose(0, 2, 1, 3).reshape(B, T, H * D)
    want = m.out(m.norm(minitx.tensor(y, dtype="float64"))).data
    np.testing.assert_allclose(m(x).data, want, atol=1e-11)


def test_gradcheck():
    m = build(n_memories=3, top_k=1)
    x = minitx.tensor(np.random.default_rng(2).standard_normal((1, 5, 12)), dtype="float64",
                      requires_grad=True)
    assert minitx.gradcheck(lambda x, w: m(x), [x, m.router.weight])


@pytest.mark.parametrize("options, match", [({"top_k": 5}, "top_k"), ({"top_k": 0}, "top_k"),
                                            ({"causal": False}, "causal")])
def test_bad_options_are_named(options, match):
    with pytest.raises(ValueError, match=match):
        mixers.build("mom", d_model=12, n_heads=2, n_memories=4, **options)
