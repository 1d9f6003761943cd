"""minitx.nn.conv.CausalConv1d: the shifted-sum forward equals a direct per-output loop,
backward equals finite differences, the layer is causal, and step-by-step decoding
equals the parallel form."""

from __future__ import annotations

import numpy as np
import pytest

import minitx
from minitx.autograd import gradcheck
from minitx.nn.conv import CausalConv1d, causal_conv1d, causal_conv1d_forward


def direct(x, w, bias):
    """y[b, t, c] = sum_k w[c, k] x[b, t - K + 1 + k, c] + bias[c], one output at a time."""
    B, T, C = x.shape
    K = w.shape[1]
    y = np.zeros_like(x)
    for b in range(B):
        for t in range(T):
            for c in range(C):
                acc = bias[c] if bias is not None else 0.0
                for k in range(K):
                    s = t - K + 1 + k
                    if s >= 0:
                        acc += w[c, k] * x[b, s, c]
                y[b, t, c] = acc
    return y


@pytest.mark.parametrize("K", [1, 2, 4, 9])
@pytest.mark.parametrize("with_bias", [True, False])
def test_forward_matches_direct_definition(K, with_bias):
    rng = np.random.default_rng(K)
    x = rng.standard_normal((2, 6, 3))
    w = rng.standard_normal((3, K))
    bias = rng.standard_normal(3) if with_bias else None
    np.testing.assert_allclose(causal_conv1d_forward(x, w, bias), direct(x, w, bias), atol=1e-12)


@pytest.mark.parametrize("K", [1, 3, 5])
@pytest.mark.parametrize("with_bias", [True, False])
def test_gradcheck(K, with_bias):
    rng = np.random.default_rng(10 + K)
    x = minitx.tensor(rng.standard_normal((2, 5, 3)), dtype="float64", requires_grad=True)
    w = minitx.tensor(rng.standard_normal((3, K)), dtype="float64", requires_grad=True)
    inputs = [x, w]
    if with_bias:
        inputs.append(minitx.tensor(rng.standard_normal(3), dtype="float64", requires_grad=True))
    assert gradcheck(lambda *a: causal_conv1d(*a), inputs)


def test_module_is_causal_and_steps_equal_parallel_form():
    conv = CausalConv1d(4, 3, generator=np.random.default_rng(0)).double()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 8, 4))
    y = conv(minitx.tensor(x)).data
    x2 = x.copy()
    x2[:, 5:] += 1.0
    y2 = conv(minitx.tensor(x2)).data
    np.testing.assert_allclose(y[:, :5], y2[:, :5], atol=1e-12)
    assert not np.allclose(y[:, 5:], y2[:, 5:])
    state = conv.init_state(2)
    assert state.shape == (2, 2, 4)
    outs = []
    for t in range(8):
        y_t, state = conv.step(minitx.tensor(x[:, t]), state)
        outs.append(y_t.data)
    np.testing.assert_allclose(np.stack(outs, 1), y, atol=1e-12)


def test_kernel_size_one_steps_and_init_bounds():
    conv = CausalConv1d(5, 1, bias=False, generator=np.random.default_rng(2)).double()
    assert conv.bias is None and conv.weight.shape == (5, 1)
    x = np.random.default_rng(3).standard_normal((1, 4, 5))
    y = conv(minitx.tensor(x)).data
    np.testing.assert_allclose(y, x * conv.weight.data[:, 0], atol=1e-12)
    y_t, state = conv.step(minitx.tensor(x[:, 0]), conv.init_state(1))
    np.testing.assert_allclose(y_t.data, y[:, 0], atol=1e-12)
    wide = CausalConv1d(64, 4, generator=np.random.default_rng(4))
    assert np.abs(wide.weight.data).max() <= 0.5 and np.abs(wide.weight.data).max() > 0.3


def test_step_is_differentiable_in_the_weights():
    conv = CausalConv1d(3, 2, generator=np.random.default_rng(5)).double()
    x = np.random.default_rng(6).standard_normal((1, 3, 3))
    state = conv.init_state(1)
    total = 0
    for t in range(3):
        y_t, state = conv.step(minitx.tensor(x[:, t]), state)
        total = total + y_t.sum()
    total.backward()
    step_grad = conv.weight.grad.copy()
    conv.zero_grad()
    conv(minitx.tensor(x)).sum().backward()
    np.testing.assert_allclose(step_grad, conv.weight.grad, atol=1e-12)


def test_bad_shapes_are_named():
    conv = CausalConv1d(4, 3)
    with pytest.raises(ValueError, match=r"\(B, T, 4\)"):
        conv(minitx.tensor(np.zeros((2, 5, 3), np.float32)))
    with pytest.raises(ValueError, match="kernel_size"):
        CausalConv1d(4, 0)
