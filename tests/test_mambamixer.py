"""MambaMixer (causal variant): the channel mixer equals a loop over its definition, the whole
block equals step-by-step decoding, gradients pass gradcheck, channels are mixed within a
token while no output reads a later token."""

from __future__ import annotations

import numpy as np
import pytest

import minitx
from minitx import mixers
from minitx.autograd import gradcheck


def small(seed=0, **opts):
    minitx.manual_seed(seed)
    opts = {"d_state": 3, "expand": 2, "d_conv": 2, "channel_window": 3, "channel_expand": 2,
            "channel_state": 2, **opts}
    return mixers.build("mambamixer", d_model=4, **opts).double()


def silu(a):
    return a / (1 + np.exp(-a))


def channel_by_loops(ch, u):
    """The channel mixer's equations, one token and one channel at a time."""
    w = {n: p.data for n, p in ch.named_parameters()}
    Bsz, T, L = u.shape
    W, E, N = ch.window, ch.E, ch.N
    Af, Ab = -np.exp(w["A_fwd_log"]), -np.exp(w["A_bwd_log"])
    out = np.zeros_like(u)
    for b in range(Bsz):
        for t in range(T):
            win = np.array([[u[b, s, c] if s >= 0 else 0.0 for s in range(t - W + 1, t + 1)]
                            for c in range(L)])  # (L, W)
            xz = win @ w["in_proj.weight"].T + w["in_proj.bias"]
            x, z = silu(xz[:, :E]), xz[:, E:]
            sel = x @ w["x_proj.weight"].T
            delta = np.logaddexp(0, sel[:, :1] @ w["dt_proj.weight"].T + w["dt_proj.bias"])
            Bm, Cm = sel[:, 1:1 + N], sel[:, 1 + N:]
            y = w["D"] * x
            for A, order in ((Af, range(L)), (Ab, range(L - 1, -1, -1))):
                h = np.zeros((E, N))
                for c in order:
                    dc = delta[c][:, None]  # (E, 1)
                    h = np.exp(dc * A) * h + dc * Bm[c] * x[c][:, None]
                    y[c] = y[c] + h @ Cm[c]
            out[b, t] = ((y * silu(z)) @ w["out_proj.weight"].T + w["out_proj.bias"])[:, 0]
    return out


def test_channel_mixer_equals_its_definition_by_loops():
    m = small(1)
    u = np.random.default_rng(2).standard_normal((2, 5, 4))
    got = m.channel(minitx.tensor(u)).data
    np.testing.assert_allclose(got, channel_by_loops(m.channel, u), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("window", [1, 3])
def test_step_equals_parallel_form(window):
    m = small(3, channel_window=window)
    m.avg_in.data[...] = [0.3, 0.8]  # non-default averaging weights: every path is used
    m.avg_out.data[...] = [0.2, -0.5, 1.1]
    x = minitx.tensor(np.random.default_rng(4).standard_normal((2, 6, 4)))
    state, outs = m.init_state(2), []
    for t in range(6):
        y, state = m.step(x[:, t], state)
        outs.append(y.data)
    np.testing.assert_allclose(np.stack(outs, 1), m(x).data, rtol=1e-9, atol=1e-12)


def test_channels_mix_within_a_token_and_never_read_later_tokens():
    m = small(5)
    rng = np.random.default_rng(6)
    u = rng.standard_normal((1, 5, 4))
    y = m.channel(minitx.tensor(u)).data
    u2 = u.copy()
    u2[0, 2, 3] += 1.0  # one channel of one token
    y2 = m.channel(minitx.tensor(u2)).data
    np.testing.assert_array_equal(y[0, :2], y2[0, :2])  # earlier tokens untouched
    assert np.abs(y[0, 2, :3] - y2[0, 2, :3]).min() > 1e-8  # the other channels see it
    assert np.abs(y[0, 3:] - y2[0, 3:]).max() > 1e-8  # later tokens (through the window)


def test_gradcheck_block():
    m = small(7)
    m.avg_in.data[...] = [0.5, 0.7]
    m.avg_out.data[...] = [0.3, 0.4, 0.9]
    x = minitx.tensor(np.random.default_rng(8).standard_normal((1, 3, 4)), requires_grad=True)
    ch = m.channel
    params = [m.avg_in, m.avg_out, ch.A_fwd_log, ch.A_bwd_log, ch.D, ch.in_proj.weight,
              ch.dt_proj.bias, ch.x_proj.weight, m.token.A_log]
    assert gradcheck(lambda x, *p: m(x), [x, *params])


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="causal"):
        mixers.build("mambamixer", d_model=8, causal=False)
    with pytest.raises(ValueError, match="window"):
        mixers.build("mambamixer", d_model=8, channel_window=0)
    with pytest.raises(ValueError, match=r"\(B, T, 8\)"):
        mixers.build("mambamixer", d_model=8)(minitx.tensor(np.zeros((1, 3, 5))))
