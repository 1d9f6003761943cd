"""SSD and the Mamba-2 block: the chunked algorithm equals the recurrence and the
materialised semiseparable matrix for every chunk size, it passes gradcheck, and the block's
step-by-step decoding equals its chunked parallel form."""

from __future__ import annotations

import numpy as np
import pytest

import minitx
from minitx import mixers
from minitx.autograd import gradcheck
from minitx.mixers.ssm._ssd import ssd_chunked, ssd_matrix, ssd_recurrent_ref


def ssd_inputs(rng, batch=2, T=11, H=3, P=2, N=4):
    x = rng.standard_normal((batch, T, H, P))
    dt = rng.uniform(0.05, 1.0, (batch, T, H))
    A = -rng.uniform(0.3, 2.0, H)
    B = rng.standard_normal((batch, T, N))
    C = rng.standard_normal((batch, T, N))
    return x, dt, A, B, C


def test_recurrence_equals_semiseparable_matrix():
    x, dt, A, B, C = ssd_inputs(np.random.default_rng(0))
    y, _ = ssd_recurrent_ref(x, dt, A, B, C)
    M = ssd_matrix(dt, A, B, C)  # (B, H, T, T)
    assert np.allclose(np.triu(M, 1), 0)
    np.testing.assert_allclose(y, np.einsum("bhts,bshp->bthp", M, x), rtol=1e-12, atol=1e-12)
    # one entry by its definition: (C_t . B_s) exp(a (dt_{s+1} + ... + dt_t)) dt_s
    b, h, t, s = 1, 2, 7, 3
    want = C[b, t] @ B[b, s] * np.exp(A[h] * dt[b, s + 1:t + 1, h].sum()) * dt[b, s, h]
    assert np.isclose(M[b, h, t, s], want, rtol=1e-12)


@pytest.mark.parametrize("chunk", [1, 2, 3, 4, 11, 64])
def test_chunked_equals_recurrence(chunk):
    x, dt, A, B, C = ssd_inputs(np.random.default_rng(chunk))
    y, _ = ssd_recurrent_ref(x, dt, A, B, C)
    got = ssd_chunked(*(minitx.tensor(a) for a in (x, dt, A, B, C)), chunk_size=chunk).data
    np.testing.assert_allclose(got, y, rtol=1e-10, atol=1e-12)


def test_chunked_gradcheck():
    args = ssd_inputs(np.random.default_rng(5), batch=1, T=7, H=2, P=2, N=3)
    tensors = [minitx.tensor(a, requires_grad=True) for a in args]
    assert gradcheck(lambda *t: ssd_chunked(*t, chunk_size=3), tensors)


def test_recurrent_ref_carries_the_state():
    """Running two halves with the state handed over equals one run."""
    x, dt, A, B, C = ssd_inputs(np.random.default_rng(6))
    y, h = ssd_recurrent_ref(x, dt, A, B, C)
    y1, h1 = ssd_recurrent_ref(x[:, :5], dt[:, :5], A, B[:, :5], C[:, :5])
    y2, h2 = ssd_recurrent_ref(x[:, 5:], dt[:, 5:], A, B[:, 5:], C[:, 5:], h0=h1)
    np.testing.assert_allclose(np.concatenate([y1, y2], 1), y, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(h2, h, rtol=1e-12, atol=1e-13)


def block(seed=0, **opts):
    minitx.manual_seed(seed)
    opts = {"d_state": 4, "chunk_size": 3, **opts}
    return mixers.build("mamba2", d_model=8, n_heads=2, **opts).double()


def test_step_equals_chunked_parallel_form():
    m = block()
    u = minitx.tensor(np.random.default_rng(1).standard_normal((2, 10, 8)))
    state, outs = m.init_state(2), []
    for t in range(10):
        y_t, state = m.step(u[:, t], state)
        outs.append(y_t.data)
    np.testing.assert_allclose(np.stack(outs, 1), m(u).data, rtol=1e-9, atol=1e-11)
    assert state["h"].shape == (2, 2, 8, 4)


def test_chunk_size_does_not_change_the_block():
    u = minitx.tensor(np.random.default_rng(2).standard_normal((1, 9, 8)))
    outs = [block(chunk_size=q)(u).data for q in (1, 4, 64)]
    for y in outs[1:]:
        np.testing.assert_allclose(y, outs[0], rtol=1e-10, atol=1e-12)


def test_block_gradcheck():
    m = block(seed=3)
    u = minitx.tensor(np.random.default_rng(4).standard_normal((1, 5, 8)), requires_grad=True)
    assert gradcheck(lambda u, *p: m(u), [u, m.A_log, m.dt_bias, m.D])


def test_initialisation_and_bad_options():
    minitx.manual_seed(7)
    m = mixers.build("mamba2", d_model=32, n_heads=8)
    A = np.exp(m.A_log.data)
    assert m.head_dim == 8 and A.shape == (8,) and (A >= 1).all() and (A <= 16).all()
    with pytest.raises(ValueError, match="not divisible by n_heads"):
        mixers.build("mamba2", d_model=8, n_heads=3)
    with pytest.raises(ValueError, match="causal"):
        mixers.build("mamba2", d_model=8, causal=False)
