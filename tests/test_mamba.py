"""The Mamba block: the kernel-based parallel form equals a block written with plain tensor
ops around the NumPy reference scan, equals step-by-step decoding, passes gradcheck, and
its initialisation is the paper's (S4D-real A, Delta log-uniform in [dt_min, dt_max])."""

from __future__ import annotations

import numpy as np
import pytest

import minitx
import minitx.functional as F
from minitx import mixers
from minitx.autograd import gradcheck
from minitx.kernels.selective_scan import selective_scan_forward_ref
from minitx.mixers.ssm.mamba import Mamba


def small(seed=0, **opts):
    minitx.manual_seed(seed)
    opts = {"d_state": 3, "expand": 2, "d_conv": 3, **opts}
    return mixers.build("mamba", d_model=4, **opts).double()


def by_hand(m, u):
    """The block's equations with NumPy arrays and the reference scan."""
    w = {name: p.data for name, p in m.named_parameters()}
    xz = u @ w["in_proj.weight"].T
    x, z = xz[..., :m.d_inner], xz[..., m.d_inner:]
    K = w["conv.weight"].shape[1]
    xp = np.concatenate([np.zeros((u.shape[0], K - 1, m.d_inner)), x], 1)
    x = sum(w["conv.weight"][:, k] * xp[:, k:k + x.shape[1]] for k in range(K)) + w["conv.bias"]
    x = x / (1 + np.exp(-x))
    sel = x @ w["x_proj.weight"].T
    R, N = m.dt_rank, m.d_state
    delta = np.logaddexp(0, sel[..., :R] @ w["dt_proj.weight"].T + w["dt_proj.bias"])
    A = -np.exp(w["A_log"])
    y = selective_scan_forward_ref(x, delta, A, sel[..., R:R + N], sel[..., R + N:], w["D"])
    return (y * z / (1 + np.exp(-z))) @ w["out_proj.weight"].T


def test_forward_equals_the_equations_by_hand():
    m = small()
    u = np.random.default_rng(1).standard_normal((2, 7, 4))
    np.testing.assert_allclose(m(minitx.tensor(u)).data, by_hand(m, u), rtol=1e-10, atol=1e-12)


def test_step_equals_parallel_form_at_default_sizes():
    minitx.manual_seed(3)
    m = mixers.build("mamba", d_model=16).double()
    u = minitx.tensor(np.random.default_rng(2).standard_normal((2, 9, 16)))
    state = m.init_state(2)
    outs = []
    for t in range(9):
        y_t, state = m.step(u[:, t], state)
        outs.append(y_t.data)
    np.testing.assert_allclose(np.stack(outs, 1), m(u).data, rtol=1e-9, atol=1e-11)
    assert state["h"].shape == (2, 32, 16) and state["conv"].shape == (2, 3, 32)


def test_gradcheck_block_inputs_and_parameters():
    m = small(seed=4)
    u = minitx.tensor(np.random.default_rng(5).standard_normal((2, 5, 4)), requires_grad=True)
    params = [m.A_log, m.D, m.dt_proj.bias, m.conv.weight, m.x_proj.weight]
    assert gradcheck(lambda u, *p: m(u), [u, *params])


def test_gradcheck_through_the_recurrent_form():
    m = small(seed=6)
    u = minitx.tensor(np.random.default_rng(7).standard_normal((1, 3, 4)), requires_grad=True)

    def decode(u, *params):
        state, outs = m.init_state(1), []
        for t in range(3):
            y, state = m.step(u[:, t], state)
            outs.append(y)
        return minitx.stack(outs, 1)

    assert gradcheck(decode, [u, m.A_log, m.D])


def test_initialisation_follows_the_paper():
    minitx.manual_seed(8)
    m = Mamba(64, d_state=16)
    assert m.d_inner == 128 and m.dt_rank == 4
    np.testing.assert_allclose(-np.exp(m.A_log.data), -np.tile(np.arange(1, 17), (128, 1)),
                               rtol=1e-6)
    dt = F.softplus(m.dt_proj.bias).data
    assert dt.min() >= 0.001 * 0.999 and dt.max() <= 0.1 * 1.001
    # log-uniform: about half the channels below the geometric mean sqrt(0.001 * 0.1) = 0.01
    assert 0.3 < (dt < 0.01).mean() < 0.7
    assert (m.D.data == 1).all()
    # a model-wide re-initialisation is asked to keep the step-size and conv initialisation
    assert m.dt_proj.bias._no_reinit and m.conv.weight._no_reinit


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="causal"):
        mixers.build("mamba", d_model=8, causal=False)
    with pytest.raises(ValueError, match="d_state"):
        mixers.build("mamba", d_model=8, d_state=0)
    with pytest.raises(ValueError, match=r"\(B, T, 8\)"):
        mixers.build("mamba", d_model=8)(minitx.tensor(np.zeros((1, 3, 5), np.float32)))
