"""S^2-attention (LongLoRA's shifted groups, SinkLoRA's sinks): the per-head pattern by
definition, the shifted heads bridging neighbouring groups, the mixer equal to softmax
under the pattern, decoding equal to it."""

import numpy as np

import minitx
from minitx import mixers
from minitx.mixers.sparse import s2_attention as s2


def test_pattern_by_definition():
    P = s2.s2_pattern(8, 2, 4, n_sink=1)
    for i in range(8):
        for j in range(8):
            assert P[0, i, j] == (j <= i and (i // 4 == j // 4 or j < 1))
            assert P[1, i, j] == (j <= i and ((i + 2) // 4 == (j + 2) // 4 or j < 1))


def test_shifted_heads_bridge_neighbouring_groups():
    P = s2.s2_pattern(16, 2, 4, causal=False)
    plain, shifted = P[0], P[1]
    assert not plain[4, 3] and shifted[4, 3]  # across the plain boundary at 4
    union = (plain | shifted).astype(int)
    reach = np.linalg.matrix_power(union, 8) > 0
    assert reach.all(), "stacked layers connect every pair through the shifted heads"


def test_mixer_equals_softmax_under_the_pattern_and_decodes():
    minitx.manual_seed(0)
    m = mixers.build("s2-attention", d_model=8, n_heads=2, group_size=4, n_sink=1).double()
    x = minitx.tensor(np.random.default_rng(0).standard_normal((2, 10, 8)), dtype="float64")
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
