"""minitx.kernels.delta_scan and the autograd op over it: the NumPy reference equals a
brute-force delta rule (the state built as a product of (I - beta k^T k) updates); the
reference backward equals finite differences (float64, across a checkpoint); the Numba twins
equal the references (float32 and float64, across checkpoint boundaries); the op passes
gradcheck; DeltaNet's kernel-backed recurrent form equals its Python token loop in values and
gradients.

Tests named ``test_twin_*`` are re-run as plain Python under NUMBA_DISABLE_JIT=1.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import rerun_twins_without_jit

import minitx
from minitx.autograd import gradcheck
from minitx.kernels import delta_scan as D
from minitx.mixers.linear import deltanet as dn
from minitx.mixers.linear._scan_ops import delta_scan

TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}
NAMES = ("dq", "dk", "dv", "dbeta")


def scan_inputs(rng, B, H, T, Dk, Dv, dt=np.float64):
    """Unit-norm keys and beta in (0, 1), as DeltaNet feeds the scan: the state stays bounded."""
    q, k = rng.standard_normal((2, B, H, T, Dk))
    k /= np.linalg.norm(k, axis=-1, keepdims=True)
    v = rng.standard_normal((B, H, T, Dv))
    beta = rng.uniform(0.05, 0.95, (B, H, T, 1))
    return tuple(a.astype(dt) for a in (q, k, v, beta))


def brute_force(q, k, v, beta):
    """Unrolled: S_t = A_t S_{t-1} + beta_t k_t^T v_t with A_t = I - beta_t k_t^T k_t, as
    explicit (Dk, Dk) matrices per (b, h, t); then o_t = q_t S_t."""
    B, H, T, Dk = q.shape
    o = np.zeros(v.shape)
    for b in range(B):
        for h in range(H):
            S = np.zeros((Dk, v.shape[-1]))
            for t in range(T):
                kt, bt = k[b, h, t][:, None], beta[b, h, t, 0]
                S = (np.eye(Dk) - bt * kt @ kt.T) @ S + bt * kt @ v[b, h, t][None, :]
                o[b, h, t] = q[b, h, t] @ S
    return o


def test_reference_equals_the_brute_force_rule():
    args = scan_inputs(np.random.default_rng(0), 2, 3, 9, 4, 5)
    np.testing.assert_allclose(D.delta_scan_forward_ref(*args)[0], brute_force(*args),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("T", [3, D.CHUNK + 5])
def test_reference_backward_equals_finite_differences(T):
    rng = np.random.default_rng(T)
    args = scan_inputs(rng, 1, 2, T, 3, 2)
    go = rng.standard_normal(args[0].shape[:3] + (2,))
    _, ckpt = D.delta_scan_forward_ref(*args)
    grads = D.delta_scan_backward_ref(*args, go, ckpt)
    loss = lambda a: float((D.delta_scan_forward_ref(*a)[0] * go).sum())
    eps = 1e-6
    for n, (name, g) in enumerate(zip(NAMES, grads)):
        idx = [tuple(rng.integers(0, s) for s in g.shape) for _ in range(12)]
        idx += [(0, 0, T - 1, 0), (0, 1, 0, 0)]  # the ends of time
        if T > D.CHUNK:
            idx += [(0, 0, D.CHUNK - 1, 0), (0, 1, D.CHUNK, 0)]  # either side of a checkpoint
        for ix in idx:
            plus, minus = [list(args) for _ in range(2)]
            plus[n], minus[n] = args[n].copy(), args[n].copy()
            plus[n][ix] += eps
            minus[n][ix] -= eps
            numeric = (loss(plus) - loss(minus)) / (2 * eps)
            assert abs(g[ix] - numeric) < 1e-6 + 1e-5 * abs(numeric), (name, ix)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1, 1, 1, 1), (2, 3, 5, 4, 3), (1, 2, 2 * D.CHUNK + 7, 8, 5),
                                   (3, 1, D.CHUNK, 2, 6)])
def test_twin_forward_and_backward(dt, shape):
    rng = np.random.default_rng(sum(shape))
    args = scan_inputs(rng, *shape, dt)
    o, ckpt = D.delta_scan_forward(*args)
    o_ref, ckpt_ref = D.delta_scan_forward_ref(*args)
    assert o.dtype == dt and o.shape == args[2].shape
    np.testing.assert_allclose(o, o_ref, **TOL[dt])
    np.testing.assert_allclose(ckpt, ckpt_ref, **TOL[dt])
    go = rng.standard_normal(o.shape).astype(dt)
    got = D.delta_scan_backward(*args, go, ckpt)
    want = D.delta_scan_backward_ref(*args, go, ckpt_ref)
    for name, g, w, a in zip(NAMES, got, want, args):
        assert g.dtype == dt and g.shape == a.shape, name
        scale = np.abs(w).max() + 1
        np.testing.assert_allclose(g / scale, w / scale, **TOL[dt], err_msg=name)


def test_gradcheck_the_op():
    rng = np.random.default_rng(3)
    tensors = [minitx.tensor(a, dtype="float64", requires_grad=True)
               for a in scan_inputs(rng, 1, 2, 6, 3, 2)]
    assert gradcheck(delta_scan, tensors)


@pytest.mark.parametrize("T", [1, 7, D.CHUNK + 3])
def test_deltanet_kernel_form_equals_the_loop_form(T):
    rng = np.random.default_rng(T)
    inputs = [minitx.tensor(a, dtype="float64", requires_grad=True)
              for a in scan_inputs(rng, 2, 2, T, 3, 3)]
    got, want = dn.recurrent_form(*inputs), dn.recurrent_form_loop(*inputs)
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


def test_bad_inputs_name_the_array():
    q, k, v, beta = scan_inputs(np.random.default_rng(4), 1, 1, 3, 2, 2)
    with pytest.raises(ValueError, match="beta"):
        D.delta_scan_forward(q, k, v, np.repeat(beta, 2, axis=-1))
    with pytest.raises(ValueError, match="dtype"):
        D.delta_scan_forward(q, k.astype(np.float32), v, beta)
    with pytest.raises(ValueError, match="v "):
        D.delta_scan_forward(q, k, v[:, :, :2], beta)
    with pytest.raises(ValueError, match="k "):
        D.delta_scan_forward(q, k[..., :1], v, beta)
    with pytest.raises(ValueError, match="grad_o"):
        D.delta_scan_backward(q, k, v, beta, np.zeros((1, 1, 3, 5)), np.zeros((1, 1, 1, 2, 2)))


def test_subprocess_twins_without_jit():
    rerun_twins_without_jit(__file__)
