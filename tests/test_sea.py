"""SEA: the estimated mask (own block + top-k earlier blocks by a linear-attention estimate)
by definition, full causal attention when every block is kept, the estimate finding a
strongly matching distant block, gradients."""

import numpy as np

import minitx
import minitx.functional as F
from minitx import mixers
from minitx.mixers.linear import sea


def build(**options):
    minitx.manual_seed(0)
    return mixers.build("sea", d_model=8, n_heads=2, **options).double()


def test_mask_by_definition():
    rng = np.random.default_rng(0)
    q, k = rng.standard_normal((1, 1, 10, 3)), rng.standard_normal((1, 1, 10, 3))
    phi = sea.feature_map_array
    mask = sea.estimated_mask(phi(q), phi(sea.block_means(k, 3)), 10, 3, 1)
    for i in range(10):
        own = i // 3
        scores = [phi(q[0, 0, i]) @ phi(k[0, 0, 3 * r:3 * r + 3].mean(0)) for r in range(own)]
        keep = {own} | ({int(np.argmax(scores))} if scores else set())
        want = [j <= i and j // 3 in keep for j in range(10)]
        assert mask[0, 0, i].tolist() == want, i


def test_keeping_every_block_is_full_causal_attention():
    m = build(block=3, top_k=10)
    x = minitx.tensor(np.random.default_rng(1).standard_normal((2, 10, 8)), dtype="float64")
    B, T, C = x.shape
    q, k, v = (t.reshape(B, T, 2, 4).transpose(1, 2) for t in m.qkv(x).split(C, -1))
    full = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    np.testing.assert_allclose(m(x).data, m.out(full.transpose(1, 2).reshape(B, T, C)).data,
                               atol=1e-12)


def test_estimate_finds_a_matching_distant_block():
    q = np.zeros((1, 1, 12, 2))
    k = np.full((1, 1, 12, 2), -3.0)
    k[0, 0, 1] = [4.0, 4.0]  # block 0 holds a key that matches the last query strongly
    q[0, 0, 11] = [2.0, 2.0]
    phi = sea.feature_map_array
    mask = sea.estimated_mask(phi(q), phi(sea.block_means(k, 3)), 12, 3, 1)
    assert mask[0, 0, 11, 1] and not mask[0, 0, 11, 4]


def test_gradcheck():
    m = build(block=2, top_k=1)
    x = minitx.tensor(np.random.default_rng(2).standard_normal((1, 6, 8)), dtype="float64",
                      requires_grad=True)
    assert minitx.gradcheck(lambda x, b: m(x), [x, m.qkv.bias])
