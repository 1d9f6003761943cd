"""S^2-attention (LongLoRA's shifted groups, SinkLoRA's sinks): the per-head pattern by
definition, the shifted heads bridging neighbouring groups. The mixer equal to softmax under the pattern,
and decoding equal to it, are tested with the other masked patterns in test_sparse_patterns."""

import numpy as np

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
