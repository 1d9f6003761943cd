"""HiSS (two-level SSM): the parallel form equals a brute-force assembly that runs the low SSM
on every chunk as its own sequence and the high SSM on the chunk features; it equals
step-by-step decoding (for several chunk sizes and T not a multiple of the chunk); the high
level reads only completed chunks; gradients pass gradcheck."""

from __future__ import annotations

import numpy as np
import pytest

import minitx
from minitx import mixers
from minitx.autograd import gradcheck


def small(seed=0, **opts):
    minitx.manual_seed(seed)
    return mixers.build("hiss", d_model=4, **{"chunk": 3, "d_state": 4, **opts}).double()


def by_chunks(m, x):
    """Run the definition chunk by chunk with separate calls."""
    B, T, D = x.shape
    c = m.chunk
    starts = list(range(0, T, c))
    lows = [m.lower(minitx.tensor(x[:, s:s + c])).data for s in starts]  # each its own sequence
    feats = np.stack([lo[:, -1] for lo in lows], 1)  # (B, n, D), last chunk maybe partial
    hi = m.upper(minitx.tensor(feats)).data
    W = m.proj.weight.data
    out = []
    for j, lo in enumerate(lows):
        ctx = np.zeros((B, D)) if j == 0 else hi[:, j - 1] @ W.T
        out.append(lo + ctx[:, None])
    return np.concatenate(out, 1)


@pytest.mark.parametrize("T", [9, 10])
def test_parallel_form_equals_chunk_by_chunk_definition(T):
    m = small(1)
    x = np.random.default_rng(2).standard_normal((2, T, 4))
    np.testing.assert_allclose(m(minitx.tensor(x)).data, by_chunks(m, x), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("chunk,T,levels", [(1, 5, "s4d"), (3, 8, "s4d"), (4, 9, "mamba")])
def test_step_equals_parallel_form(chunk, T, levels):
    m = small(3, chunk=chunk, lower=levels, upper=levels)
    x = minitx.tensor(np.random.default_rng(4).standard_normal((2, T, 4)))
    state, outs = m.init_state(2), []
    for t in range(T):
        y, state = m.step(x[:, t], state)
        outs.append(y.data)
    np.testing.assert_allclose(np.stack(outs, 1), m(x).data, rtol=1e-9, atol=1e-12)


def test_upper_level_reads_completed_chunks_only():
    m = small(5, chunk=3)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 9, 4))
    y = m(minitx.tensor(x)).data
    x2 = x.copy()
    x2[0, 1] += 1.0  # inside chunk 0 (steps 0..2)
    y2 = m(minitx.tensor(x2)).data
    assert np.abs(y2[0, 3:] - y[0, 3:]).max() > 1e-6  # later chunks see it, via the high level
    m.proj.weight.data[...] = 0  # cut the high level: chunks become independent
    y, y2 = m(minitx.tensor(x)).data, m(minitx.tensor(x2)).data
    np.testing.assert_allclose(y[0, 3:], y2[0, 3:], atol=1e-14)
    x3 = x.copy()
    x3[0, 5] += 1.0  # last step of chunk 1: tokens 3, 4 of the same chunk must not see it
    m2 = small(5, chunk=3)
    a, b = m2(minitx.tensor(x)).data, m2(minitx.tensor(x3)).data
    np.testing.assert_allclose(a[0, :5], b[0, :5], atol=1e-14)


def test_gradcheck():
    m = small(7, chunk=2)
    x = minitx.tensor(np.random.default_rng(8).standard_normal((1, 5, 4)), requires_grad=True)
    params = [m.proj.weight, m.lower.D, m.upper.D, m.upper.ssm.log_dt, m.lower.ssm.c_re]
    assert gradcheck(lambda x, *p: m(x), [x, *params])


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="causal"):
        mixers.build("hiss", d_model=8, causal=False)
    with pytest.raises(ValueError, match="chunk"):
        mixers.build("hiss", d_model=8, chunk=0)
    no_step = [n for n in mixers.names() if not hasattr(mixers.get(n), "step")
               and getattr(mixers.get(n), "causal_capable", True)][0]
    with pytest.raises(ValueError, match="no recurrent step"):
        mixers.build("hiss", d_model=8, n_heads=2, upper=no_step)


def test_both_levels_are_trained_parameters():
    names = [n for n, _ in small().named_parameters()]
    assert any(n.startswith("lower.") for n in names) and any(n.startswith("upper.") for n in names)
