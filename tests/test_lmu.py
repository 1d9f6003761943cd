"""LMU and LMUFormer: (A, B) against the paper's formula written entry by entry, the
impulse response against the recurrence, the memory decoding delayed inputs with
Legendre polynomials (better as the order grows), the parallel (convolution) form against
step-by-step decoding, gradients against finite differences, and the spike surrogate."""

import numpy as np
import pytest

import minitx
from minitx.autograd.gradcheck import gradcheck
from minitx.mixers.ssm._conv import causal_conv
from minitx.mixers.ssm.lmu import (LMU, LMUFormer, Spike, decoder, impulse_response,
                                   lmu_discretized, lmu_matrices)


def t64(a, grad=True):
    return minitx.tensor(np.asarray(a, dtype=np.float64), dtype="float64", requires_grad=grad)


def test_matrices_match_the_paper():
    N, theta = 5, 3.0
    A, B = lmu_matrices(N, theta)
    for i in range(N):
        assert B[i] == pytest.approx((2 * i + 1) * (-1) ** i / theta)
        for j in range(N):
            expected = (2 * i + 1) * (-1 if i < j else (-1) ** (i - j + 1)) / theta
            assert A[i, j] == pytest.approx(expected)


def test_impulse_response_is_the_recurrence():
    Abar, Bbar = lmu_discretized(6, 10.0)
    H = impulse_response(Abar, Bbar, 15)
    m = np.zeros(6)
    for t in range(15):
        m = Abar @ m + Bbar * (t == 0)
        np.testing.assert_allclose(H[:, t], m, atol=1e-14)


def test_memory_decodes_the_delayed_input():
    theta, T = 100, 500
    t = np.arange(T)
    u = np.sin(2 * np.pi * t / 150) + 0.5 * np.sin(2 * np.pi * t / 90 + 1)
    delays = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    worst = {}
    for N in (4, 8):
        H = impulse_response(*lmu_discretized(N, theta), T)  # (N, T)
        m = causal_conv(t64(np.tile(u[None, :, None], (1, 1, N)), False), t64(H, False)).data[0]
        est = m[200:] @ decoder(N, delays).T  # (T - 200, delays)
        lags = np.round(delays * theta).astype(int)
        truth = np.stack([u[200 - lag:T - lag] for lag in lags], axis=1)
        worst[N] = np.sqrt(np.mean((est - truth) ** 2, axis=0)).max()
    assert worst[8] < 0.03 and worst[4] > 5 * worst[8], worst


def lmu(cls=LMU, **opts):
    minitx.manual_seed(4)
    return cls(6, order=4, theta=5.0, memory_size=2, **opts).double()


@pytest.mark.parametrize("cls,opts", [(LMU, {}), (LMUFormer, {}), (LMUFormer, {"spiking": True})])
def test_parallel_form_equals_recurrence(cls, opts):
    m = lmu(cls, **opts)
    x = t64(np.random.default_rng(0).standard_normal((2, 12, 6)), False)
    state, outs = m.init_state(2), []
    for t in range(12):
        y, state = m.step(x[:, t], state)
        outs.append(y.data)
    np.testing.assert_allclose(np.stack(outs, 1), m(x).data, atol=1e-10)


@pytest.mark.parametrize("cls", [LMU, LMUFormer])
def test_gradcheck(cls):
    m = lmu(cls)
    x = t64(np.random.default_rng(1).standard_normal((1, 5, 6)))
    params = [m.enc.weight, m.mem.weight]
    assert gradcheck(lambda x, *ps: m(x), [x, *params])


def test_spike_forward_and_surrogate_backward():
    v = t64(np.array([-1.0, -0.1, 0.2, 3.0]))
    s = Spike.apply(v)
    np.testing.assert_array_equal(s.data, [0, 0, 1, 1])
    s.sum().backward()
    sig = 1 / (1 + np.exp(-4 * v.data))
    np.testing.assert_allclose(v.grad, 4 * sig * (1 - sig))


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="order must be a positive integer, got 0"):
        LMU(4, order=0)
    with pytest.raises(ValueError, match="theta must be > 0"):
        LMU(4, theta=-1)
    with pytest.raises(ValueError, match="conv_size"):
        LMUFormer(4, conv_size=0)
