"""minitx.kernels.gated_scan and the autograd op over it: the NumPy reference equals a
brute-force sum over the gated decays; the reference backward equals finite differences
(float64); the Numba twins equal the references (float32 and float64, across checkpoint
boundaries); the op passes gradcheck; GLA's and linear attention's kernel-backed recurrent
forms equal their Python token loops.

Tests named ``test_twin_*`` are re-run as plain Python under NUMBA_DISABLE_JIT=1.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import rerun_twins_without_jit

import minitx
from minitx.autograd import gradcheck
from minitx.kernels import gated_scan as G
from minitx.mixers.linear import gla
from minitx.mixers.linear import linear_attention as la
from minitx.mixers.linear._scan_ops import gated_scan

TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}
NAMES = ("dq", "dk", "dv", "dlog_a")


def scan_inputs(rng, B, H, T, Dk, Dv, dt=np.float64):
    q, k = rng.standard_normal((2, B, H, T, Dk))
    v = rng.standard_normal((B, H, T, Dv))
    log_a = np.log(rng.uniform(0.5, 1.0, (B, H, T, Dk)))
    return tuple(a.astype(dt) for a in (q, k, v, log_a))


def brute_force(q, k, v, log_a):
    """o_t = sum_{s <= t} sum_i q_t[i] exp(sum_{s < r <= t} log_a_r[i]) k_s[i] v_s."""
    B, H, T, _ = q.shape
    o = np.zeros(v.shape)
    for t in range(T):
        for s in range(t + 1):
            decay = np.exp(log_a[:, :, s + 1:t + 1].sum(2))  # (B, H, Dk)
            w = (q[:, :, t] * decay * k[:, :, s]).sum(-1)  # (B, H)
            o[:, :, t] += w[..., None] * v[:, :, s]
    return o


def test_reference_equals_the_brute_force_sum():
    args = scan_inputs(np.random.default_rng(0), 2, 3, 9, 4, 5)
    np.testing.assert_allclose(G.gated_scan_forward_ref(*args)[0], brute_force(*args),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("T", [3, G.CHUNK + 5])
def test_reference_backward_equals_finite_differences(T):
    rng = np.random.default_rng(T)
    args = scan_inputs(rng, 1, 2, T, 3, 2)
    go = rng.standard_normal(args[0].shape[:3] + (2,))
    _, ckpt = G.gated_scan_forward_ref(*args)
    grads = G.gated_scan_backward_ref(*args, go, ckpt)
    loss = lambda a: float((G.gated_scan_forward_ref(*a)[0] * go).sum())
    eps = 1e-6
    for n, (name, g) in enumerate(zip(NAMES, grads)):
        idx = [tuple(rng.integers(0, s) for s in g.shape) for _ in range(12)]
        idx += [(0, 0, T - 1, 0), (0, 1, 0, 0)]  # the ends of time
        for ix in idx:
            plus, minus = [list(args) for _ in range(2)]
            plus[n], minus[n] = args[n].copy(), args[n].copy()
            plus[n][ix] += eps
            minus[n][ix] -= eps
            numeric = (loss(plus) - loss(minus)) / (2 * eps)
            assert abs(g[ix] - numeric) < 1e-6 + 1e-5 * abs(numeric), (name, ix)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1, 1, 1, 1), (2, 3, 5, 4, 3), (1, 2, 2 * G.CHUNK + 7, 8, 5),
                                   (3, 1, G.CHUNK, 2, 6)])
def test_twin_forward_and_backward(dt, shape):
    rng = np.random.default_rng(sum(shape))
    args = scan_inputs(rng, *shape, dt)
    o, ckpt = G.gated_scan_forward(*args)
    o_ref, ckpt_ref = G.gated_scan_forward_ref(*args)
    assert o.dtype == dt and o.shape == args[2].shape
    np.testing.assert_allclose(o, o_ref, **TOL[dt])
    np.testing.assert_allclose(ckpt, ckpt_ref, **TOL[dt])
    go = rng.standard_normal(o.shape).astype(dt)
    got = G.gated_scan_backward(*args, go, ckpt)
    want = G.gated_scan_backward_ref(*args, go, ckpt_ref)
    for name, g, w, a in zip(NAMES, got, want, args):
        assert g.dtype == dt and g.shape == a.shape, name
        scale = np.abs(w).max() + 1
        np.testing.assert_allclose(g / scale, w / scale, **TOL[dt], err_msg=name)


def test_gradcheck_the_op():
    rng = np.random.default_rng(3)
    tensors = [minitx.tensor(a, dtype="float64", requires_grad=True)
               for a in scan_inputs(rng, 1, 2, 6, 3, 2)]
    assert gradcheck(gated_scan, tensors)


def gla_inputs(rng, T, grad=False):
    args = scan_inputs(rng, 2, 2, T, 3, 3)
    return [minitx.tensor(a, dtype="float64", requires_grad=grad) for a in args]


@pytest.mark.parametrize("T", [1, 7, G.CHUNK + 3])
def test_gla_kernel_form_equals_the_loop_form(T):
    inputs = gla_inputs(np.random.default_rng(T), T, grad=True)
    got, want = gla.recurrent_form(*inputs), gla.recurrent_form_loop(*inputs)
    np.testing.assert_allclose(got.data, want.data, rtol=1e-11, atol=1e-11)
    g = np.random.default_rng(1).standard_normal(got.shape)
    grads = []
    for out in (got, want):
        for t in inputs:
            t.grad = None
        out.backward(g)
        grads.append([np.zeros(t.shape) if t.grad is None else t.grad.copy() for t in inputs])
    for name, a, b in zip(NAMES, *grads):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10, err_msg=name)


def test_linear_attention_kernel_form_equals_the_loop_form():
    rng = np.random.default_rng(5)
    fq, fk = (minitx.tensor(rng.random((2, 2, 9, 3)) + 0.1, dtype="float64", requires_grad=True)
              for _ in range(2))
    v = minitx.tensor(rng.standard_normal((2, 2, 9, 4)), dtype="float64", requires_grad=True)
    got, want = la.recurrent_form(fq, fk, v), la.recurrent_form_loop(fq, fk, v)
    np.testing.assert_allclose(got.data, want.data, rtol=1e-11, atol=1e-12)
    assert gradcheck(la.recurrent_form, [fq, fk, v])


def test_bad_inputs_name_the_array():
    q, k, v, log_a = scan_inputs(np.random.default_rng(4), 1, 1, 3, 2, 2)
    with pytest.raises(ValueError, match="log_a"):
        G.gated_scan_forward(q, k, v, log_a[..., :1])
    with pytest.raises(ValueError, match="dtype"):
        G.gated_scan_forward(q, k.astype(np.float32), v, log_a)
    with pytest.raises(ValueError, match="v "):
        G.gated_scan_forward(q, k, v[:, :, :2], log_a)


def test_subprocess_twins_without_jit():
    rerun_twins_without_jit(__file__)
