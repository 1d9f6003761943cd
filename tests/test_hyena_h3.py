"""Hyena and H3 against brute-force definitions written here with explicit loops over
time (materialised convolutions), gradients against finite differences, and their
decoding forms against the parallel forms."""

import numpy as np
import pytest

import minitx
from minitx.autograd.gradcheck import gradcheck
from minitx.mixers.ssm.h3 import H3
from minitx.mixers.ssm.hyena import Hyena, decay_window


def t64(a, grad=True):
    return minitx.tensor(np.asarray(a, dtype=np.float64), dtype="float64", requires_grad=grad)


def conv_loop(u, k):
    """y[:, t] = sum_{l <= t} k[..., l] u[:, t - l], u (B, T, ...), k (..., T)."""
    y = np.zeros_like(u)
    for t in range(u.shape[1]):
        for l in range(t + 1):
            y[:, t] += k[..., l] * u[:, t - l]
    return y


def build(cls, **opts):
    minitx.manual_seed(5)
    return cls(6, **opts).double()


def test_hyena_equals_its_definition():
    m = build(Hyena, order=3, l_max=64)
    x = np.random.default_rng(0).standard_normal((2, 9, 6))
    with minitx.no_grad():
        streams = np.split(m.short(m.proj(t64(x, False))).data, 4, axis=-1)
        h = m.filters(9).data  # (3, 6, 9)
    z = streams[0]
    for i in range(3):
        z = streams[i + 1] * (conv_loop(z, h[i]) + z * m.beta.data[i])
    expected = z @ m.out.weight.data.T + m.out.bias.data
    np.testing.assert_allclose(m(t64(x, False)).data, expected, atol=1e-10)


def test_hyena_filters_do_not_depend_on_the_length_and_decay():
    m = build(Hyena, l_max=128)
    np.testing.assert_allclose(m.filters(50).data[..., :20], m.filters(20).data, atol=1e-12)
    w = decay_window(6, 128, 128)
    assert (np.diff(w, axis=1) < 0).all() and (w[:, -1] < w[:, 0]).all()
    assert w[-1, -1] < w[0, -1]  # the last channel decays fastest


def test_hyena_step_and_gradcheck():
    m = build(Hyena, order=2, l_max=32)
    x = t64(np.random.default_rng(1).standard_normal((1, 6, 6)))
    state, outs = m.init_state(1), []
    for t in range(6):
        y, state = m.step(x[:, t], state)
        outs.append(y.data)
    np.testing.assert_allclose(np.stack(outs, 1), m(x).data, atol=1e-10)
    params = [m.fc3.weight, m.act1.freq, m.beta, m.short.weight]
    for p in params:
        p.requires_grad_(True)
    m.beta.data[:] = 0.3  # a non-zero skip, so its gradient path is exercised
    assert gradcheck(lambda x, *ps: m(x), [x, *params])


@pytest.mark.parametrize("n_heads", [1, 2, 6])
def test_h3_equals_its_definition(n_heads):
    m = build(H3, n_heads=n_heads, d_state=4, shift_size=3)
    B, T, C, H = 2, 7, 6, n_heads
    d = C // H
    x = np.random.default_rng(2).standard_normal((B, T, C))
    with minitx.no_grad():
        q, k, v = np.split(m.qkv(t64(x, False)).data, 3, axis=-1)
        K = m.ssm.kernel(T).data.reshape(H, d, T)
    w = m.shift.weight.data  # (C, 3), tap 2 multiplies the current input
    k_shift = sum(w[:, 2 - j] * np.pad(k, ((0, 0), (j, 0), (0, 0)))[:, :T] for j in range(3))
    kv = k_shift.reshape(B, T, H, d, 1) * v.reshape(B, T, H, 1, d)
    s = conv_loop(kv, K[:, :, None, :])  # S_t = sum_l K_l kv_{t-l}, kernel per (head, key i)
    y = np.einsum("bthi,bthij->bthj", q.reshape(B, T, H, d), s).reshape(B, T, C)
    expected = y @ m.out.weight.data.T + m.out.bias.data
    np.testing.assert_allclose(m(t64(x, False)).data, expected, atol=1e-10)


def test_h3_step_and_gradcheck():
    m = build(H3, n_heads=2, d_state=4)
    x = t64(np.random.default_rng(3).standard_normal((2, 8, 6)))
    state, outs = m.init_state(2), []
    for t in range(8):
        y, state = m.step(x[:, t], state)
        outs.append(y.data)
    np.testing.assert_allclose(np.stack(outs, 1), m(x).data, atol=1e-10)
    xs = t64(x.data[:1, :4])
    params = [m.shift.weight, m.ssm.log_dt, m.ssm.c_im]
    assert gradcheck(lambda x, *ps: m(x), [xs, *params])


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="not divisible by n_heads 4"):
        H3(6, n_heads=4)
    with pytest.raises(ValueError, match="shift_size"):
        H3(6, shift_size=0)
    with pytest.raises(ValueError, match="order must be a positive int"):
        Hyena(6, order=0)
    with pytest.raises(ValueError, match="exceeds l_max=8"):
        Hyena(6, l_max=8)(t64(np.zeros((1, 9, 6)), False))
