"""Axial attention: row then column attention over the raster grid equals a loop over
rows and columns; in one causal layer cell (r, c) depends exactly on (r' <= r, c' <= c);
padding of a last partial row changes nothing; gradients check."""

import numpy as np
import pytest

import minitx
from minitx import mixers


def build(causal=True, row_len=4):
    minitx.manual_seed(0)
    return mixers.build("axial", d_model=8, n_heads=2, causal=causal, row_len=row_len).double()


def softmax_rows(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def attend_groups(x, proj, groups, causal):
    """Attention inside each group of positions (in order), per head, by loops."""
    B, T, C = x.shape
    q, k, v = np.split(x @ proj.weight.data.T + proj.bias.data, 3, -1)
    out = np.zeros((B, T, C))
    for b in range(B):
        for h in range(2):
            cols = slice(4 * h, 4 * h + 4)
            for g in groups:
                s = q[b][g][:, cols] @ k[b][g][:, cols].T / 2.0
                if causal:
                    s = np.where(np.tril(np.ones_like(s, bool)), s, -np.inf)
                out[b, g, cols] = softmax_rows(s) @ v[b][g][:, cols]
    return out


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("T", [12, 10])
def test_equals_row_then_column_loops(causal, T):
    m, L = build(causal), 4
    x = np.random.default_rng(T).standard_normal((2, T, 8))
    rows = [list(range(r, min(r + L, T))) for r in range(0, T, L)]
    cols = [list(range(c, T, L)) for c in range(L)]
    y = attend_groups(x, m.row_qkv, rows, causal)
    y = attend_groups(y, m.col_qkv, cols, causal)
    want = m.out(minitx.tensor(y, dtype="float64")).data
    np.testing.assert_allclose(m(minitx.tensor(x, dtype="float64")).data, want, atol=1e-12)


def test_causal_cell_depends_on_the_upper_left_rectangle():
    m, L, T = build(), 4, 12
    x = np.random.default_rng(0).standard_normal((1, T, 8))
    y = m(minitx.tensor(x, dtype="float64")).data
    r, c = 1, 1  # the cell at position 5
    for pos in range(T):
        x2 = x.copy()
        x2[0, pos] += 1.0
        moved = not np.allclose(m(minitx.tensor(x2, dtype="float64")).data[0, r * L + c], y[0, 5])
        assert moved == (pos // L <= r and pos % L <= c), pos


def test_gradcheck():
    m = build(row_len=3)
    x = minitx.tensor(np.random.default_rng(1).standard_normal((1, 7, 8)), dtype="float64",
                      requires_grad=True)
    assert minitx.gradcheck(lambda x, b: m(x), [x, m.col_qkv.bias])
