"""The two matrix-state scans of linear attention, minitx.kernels.gated_scan (GLA) and
minitx.kernels.delta_scan (DeltaNet), and the autograd ops over them. For each scan: the NumPy
reference equals a brute-force definition; the reference backward equals finite differences
(float64, across a checkpoint); the Numba twins equal the references (float32 and float64,
across checkpoint boundaries); the op passes gradcheck; the mixers' kernel-backed recurrent
forms equal their Python token loops in values and gradients; bad inputs are named.

Tests named ``test_twin_*`` are re-run as plain Python under NUMBA_DISABLE_JIT=1.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from conftest import rerun_twins_without_jit

import minitx
from minitx.autograd import gradcheck
from minitx.kernels import delta_scan as D
from minitx.kernels import gated_scan as G
from minitx.kernels._matrix_scan import CHUNK
from minitx.mixers.linear import deltanet as dn
from minitx.mixers.linear import gla
from minitx.mixers.linear import linear_attention as la
from minitx.mixers.linear._scan_ops import delta_scan, gated_scan

TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


def gated_inputs(rng, B, H, T, Dk, Dv, dt=np.float64):
    q, k = rng.standard_normal((2, B, H, T, Dk))
    v = rng.standard_normal((B, H, T, Dv))
    log_a = np.log(rng.uniform(0.5, 1.0, (B, H, T, Dk)))
    return tuple(a.astype(dt) for a in (q, k, v, log_a))


def delta_inputs(rng, B, H, T, Dk, Dv, dt=np.float64):
    """Unit-norm keys and beta in (0, 1), as DeltaNet feeds the scan: the state stays bounded."""
    q, k = rng.standard_normal((2, B, H, T, Dk))
    k /= np.linalg.norm(k, axis=-1, keepdims=True)
    v = rng.standard_normal((B, H, T, Dv))
    beta = rng.uniform(0.05, 0.95, (B, H, T, 1))
    return tuple(a.astype(dt) for a in (q, k, v, beta))


def gated_brute_force(q, k, v, log_a):
    """o_t = sum_{s <= t} sum_i q_t[i] exp(sum_{s < r <= t} log_a_r[i]) k_s[i] v_s."""
    T = q.shape[2]
    o = np.zeros(v.shape)
    for t in range(T):
        for s in range(t + 1):
            decay = np.exp(log_a[:, :, s + 1:t + 1].sum(2))  # (B, H, Dk)
            w = (q[:, :, t] * decay * k[:, :, s]).sum(-1)  # (B, H)
            o[:, :, t] += w[..., None] * v[:, :, s]
    return o


def delta_brute_force(q, k, v, beta):
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


SCANS = {
    "gated": SimpleNamespace(
        inputs=gated_inputs, brute_force=gated_brute_force, op=gated_scan,
        forward=G.gated_scan_forward, forward_ref=G.gated_scan_forward_ref,
        backward=G.gated_scan_backward, backward_ref=G.gated_scan_backward_ref,
        grads=("dq", "dk", "dv", "dlog_a"), forms=(gla.recurrent_form, gla.recurrent_form_loop),
        control="log_a", bad_control=lambda c: c[..., :1]),
    "delta": SimpleNamespace(
        inputs=delta_inputs, brute_force=delta_brute_force, op=delta_scan,
        forward=D.delta_scan_forward, forward_ref=D.delta_scan_forward_ref,
        backward=D.delta_scan_backward, backward_ref=D.delta_scan_backward_ref,
        grads=("dq", "dk", "dv", "dbeta"), forms=(dn.recurrent_form, dn.recurrent_form_loop),
        control="beta", bad_control=lambda c: np.repeat(c, 2, axis=-1)),
}
scans = pytest.mark.parametrize("scan", SCANS.values(), ids=SCANS.keys())


@scans
def test_reference_equals_the_brute_force_definition(scan):
    args = scan.inputs(np.random.default_rng(0), 2, 3, 9, 4, 5)
    np.testing.assert_allclose(scan.forward_ref(*args)[0], scan.brute_force(*args),
                               rtol=1e-12, atol=1e-12)


@scans
@pytest.mark.parametrize("T", [3, CHUNK + 5])
def test_reference_backward_equals_finite_differences(scan, T):
    rng = np.random.default_rng(T)
    args = scan.inputs(rng, 1, 2, T, 3, 2)
    go = rng.standard_normal(args[0].shape[:3] + (2,))
    _, ckpt = scan.forward_ref(*args)
    grads = scan.backward_ref(*args, go, ckpt)
    loss = lambda a: float((scan.forward_ref(*a)[0] * go).sum())
    eps = 1e-6
    for n, (name, g) in enumerate(zip(scan.grads, grads)):
        idx = [tuple(rng.integers(0, s) for s in g.shape) for _ in range(12)]
        idx += [(0, 0, T - 1, 0), (0, 1, 0, 0)]  # the ends of time
        if T > CHUNK:
            idx += [(0, 0, CHUNK - 1, 0), (0, 1, CHUNK, 0)]  # either side of a checkpoint
        for ix in idx:
            plus, minus = [list(args) for _ in range(2)]
            plus[n], minus[n] = args[n].copy(), args[n].copy()
            plus[n][ix] += eps
            minus[n][ix] -= eps
            numeric = (loss(plus) - loss(minus)) / (2 * eps)
            assert abs(g[ix] - numeric) < 1e-6 + 1e-5 * abs(numeric), (name, ix)


@scans
@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1, 1, 1, 1), (2, 3, 5, 4, 3), (1, 2, 2 * CHUNK + 7, 8, 5),
                                   (3, 1, CHUNK, 2, 6)])
def test_twin_forward_and_backward(scan, dt, shape):
    rng = np.random.default_rng(sum(shape))
    args = scan.inputs(rng, *shape, dt)
    o, ckpt = scan.forward(*args)
    o_ref, ckpt_ref = scan.forward_ref(*args)
    assert o.dtype == dt and o.shape == args[2].shape
    np.testing.assert_allclose(o, o_ref, **TOL[dt])
    np.testing.assert_allclose(ckpt, ckpt_ref, **TOL[dt])
    go = rng.standard_normal(o.shape).astype(dt)
    got = scan.backward(*args, go, ckpt)
    want = scan.backward_ref(*args, go, ckpt_ref)
    for name, g, w, a in zip(scan.grads, got, want, args):
        assert g.dtype == dt and g.shape == a.shape, name
        scale = np.abs(w).max() + 1
        np.testing.assert_allclose(g / scale, w / scale, **TOL[dt], err_msg=name)


@scans
def test_gradcheck_the_op(scan):
    rng = np.random.default_rng(3)
    tensors = [minitx.tensor(a, dtype="float64", requires_grad=True)
               for a in scan.inputs(rng, 1, 2, 6, 3, 2)]
    assert gradcheck(scan.op, tensors)


@scans
@pytest.mark.parametrize("T", [1, 7, CHUNK + 3])
def test_mixer_kernel_form_equals_its_loop_form(scan, T):
    kernel_form, loop_form = scan.forms
    inputs = [minitx.tensor(a, dtype="float64", requires_grad=True)
              for a in scan.inputs(np.random.default_rng(T), 2, 2, T, 3, 3)]
    got, want = kernel_form(*inputs), loop_form(*inputs)
    np.testing.assert_allclose(got.data, want.data, rtol=1e-11, atol=1e-11)
    g = np.random.default_rng(1).standard_normal(got.shape)
    grads = []
    for out in (got, want):
        for t in inputs:
            t.grad = None
        out.backward(g)
        grads.append([np.zeros(t.shape) if t.grad is None else t.grad.copy() for t in inputs])
    for name, a, b in zip(scan.grads, *grads):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10, err_msg=name)


def test_linear_attention_kernel_form_equals_the_loop_form():
    rng = np.random.default_rng(5)
    fq, fk = (minitx.tensor(rng.random((2, 2, 9, 3)) + 0.1, dtype="float64", requires_grad=True)
              for _ in range(2))
    v = minitx.tensor(rng.standard_normal((2, 2, 9, 4)), dtype="float64", requires_grad=True)
    got, want = la.recurrent_form(fq, fk, v), la.recurrent_form_loop(fq, fk, v)
    np.testing.assert_allclose(got.data, want.data, rtol=1e-11, atol=1e-12)
    assert gradcheck(la.recurrent_form, [fq, fk, v])


@scans
def test_bad_inputs_name_the_array(scan):
    q, k, v, c = scan.inputs(np.random.default_rng(4), 1, 1, 3, 2, 2)
    with pytest.raises(ValueError, match=scan.control):
        scan.forward(q, k, v, scan.bad_control(c))
    with pytest.raises(ValueError, match="dtype"):
        scan.forward(q, k.astype(np.float32), v, c)
    with pytest.raises(ValueError, match="v "):
        scan.forward(q, k, v[:, :, :2], c)
    with pytest.raises(ValueError, match="k "):
        scan.forward(q, k[..., :1], v, c)
    with pytest.raises(ValueError, match="grad_o"):
        scan.backward(q, k, v, c, np.zeros((1, 1, 3, 5)), np.zeros((1, 1, 1, 2, 2)))


def test_subprocess_twins_without_jit():
    rerun_twins_without_jit(__file__)
