"""minitx.kernels.selective_scan: the Numba twins equal the NumPy references (forward and
backward), the reference equals the materialised L x L mixing matrix of the selective SSM,
the reference backward equals finite differences, and the autograd op passes gradcheck.

Tests named ``test_twin_*`` are re-run as plain Python under NUMBA_DISABLE_JIT=1.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import rerun_twins_without_jit

import minitx
from minitx.autograd import gradcheck
from minitx.kernels import selective_scan as S
from minitx.kernels._jit import njit
from minitx.kernels._scan_math import exp_lite
from minitx.mixers.ssm._scan_ops import selective_scan

TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}
NAMES = ("x", "delta", "A", "B", "C", "D")


def scan_inputs(rng, batch, L, Di, N, dt=np.float64):
    x = rng.standard_normal((batch, L, Di))
    delta = rng.uniform(0.05, 0.8, (batch, L, Di))
    A = -rng.uniform(0.2, 3.0, (Di, N))
    B = rng.standard_normal((batch, L, N))
    C = rng.standard_normal((batch, L, N))
    D = rng.standard_normal(Di)
    return tuple(a.astype(dt) for a in (x, delta, A, B, C, D))


def mixing_matrix(delta, A, B, C, b, d):
    """M[t, s] = sum_n C_t[n] exp(A[d, n] sum_{s<r<=t} delta_r) delta_s B_s[n] for s <= t:
    channel d of batch element b maps x[b, :, d] to y[b, :, d] - D x by M."""
    L = delta.shape[1]
    M = np.zeros((L, L))
    for t in range(L):
        for s in range(t + 1):
            decay = np.exp(A[d] * delta[b, s + 1:t + 1, d].sum())  # (N,)
            M[t, s] = (C[b, t] * decay * B[b, s]).sum() * delta[b, s, d]
    return M


SHAPES = [(1, 1, 1, 1), (2, 5, 3, 4), (1, 33, 9, 16), (2, 70, 13, 5), (3, 40, 2, 7),
          (1, 4, 300, 3), (5, 3, 40, 2)]


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_twin_forward_and_backward(dt, shape):
    rng = np.random.default_rng(sum(shape))
    args = scan_inputs(rng, *shape, dt)
    y = S.selective_scan_forward(*args)
    assert y.dtype == dt and y.shape == args[0].shape
    np.testing.assert_allclose(y, S.selective_scan_forward_ref(*args), **TOL[dt])
    gy = rng.standard_normal(y.shape).astype(dt)
    got = S.selective_scan_backward(*args, gy)
    want = S.selective_scan_backward_ref(*args, gy)
    for name, g, w, a in zip(NAMES, got, want, args):
        assert g.dtype == dt and g.shape == a.shape, name
        scale = np.abs(w).max() + 1
        np.testing.assert_allclose(g / scale, w / scale, **TOL[dt], err_msg=name)


@njit
def _exp_lite_all(a):
    out = np.empty_like(a)
    for i in range(a.size):
        out[i] = exp_lite(a[i])
    return out


@pytest.mark.parametrize("dt, lo, hi, ulps", [(np.float32, -87, 88, 3), (np.float64, -707, 709, 8)])
def test_twin_exp_lite_accuracy_and_range(dt, lo, hi, ulps):
    x = np.concatenate([np.linspace(lo, hi, 200_001), [0.0, -1e-30, 1e-30, -0.5, 0.5]]).astype(dt)
    got, want = _exp_lite_all(x), np.exp(x.astype(np.float64))
    assert got.dtype == dt
    rel = np.abs(got - want) / want
    assert rel.max() < ulps * np.finfo(dt).eps, rel.max() / np.finfo(dt).eps
    # beyond the range the result saturates at a finite number (tiny below, huge above)
    far = _exp_lite_all(np.array([lo - 1000, hi + 1000], dt))
    assert np.isfinite(far).all() and 0 < far[0] < 1e-37 and far[1] > 1e38


def test_twin_backward_beyond_many_chunks():
    """L spanning several recomputation chunks, not a multiple of the chunk."""
    rng = np.random.default_rng(7)
    args = scan_inputs(rng, 1, 3 * S.CHUNK + 5, 3, 4)
    gy = rng.standard_normal(args[0].shape)
    for g, w in zip(S.selective_scan_backward(*args, gy), S.selective_scan_backward_ref(*args, gy)):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


def test_reference_equals_materialised_mixing_matrix():
    rng = np.random.default_rng(0)
    x, delta, A, B, C, D = scan_inputs(rng, 2, 6, 3, 4)
    y = S.selective_scan_forward_ref(x, delta, A, B, C, D)
    for b in range(2):
        for d in range(3):
            M = mixing_matrix(delta, A, B, C, b, d)
            assert np.allclose(np.triu(M, 1), 0)  # causal: lower triangular
            np.testing.assert_allclose(y[b, :, d], M @ x[b, :, d] + D[d] * x[b, :, d],
                                       rtol=1e-12, atol=1e-12)


def test_reference_states_are_zoh_for_A_and_euler_for_B():
    """One step from h = 0 then one step with x = 0: h_1 = delta B x, h_2 = exp(delta A) h_1."""
    rng = np.random.default_rng(1)
    x, delta, A, B, _, _ = scan_inputs(rng, 1, 2, 2, 3)
    x[:, 1] = 0
    h = S.selective_scan_states_ref(x, delta, A, B)
    h1 = delta[0, 0, :, None] * B[0, 0] * x[0, 0, :, None]
    np.testing.assert_allclose(h[0, 0], h1, rtol=1e-14)
    np.testing.assert_allclose(h[0, 1], np.exp(delta[0, 1, :, None] * A) * h1, rtol=1e-14)


def test_reference_backward_equals_finite_differences():
    rng = np.random.default_rng(2)
    args = [a.copy() for a in scan_inputs(rng, 2, 4, 3, 2)]
    gy = rng.standard_normal(args[0].shape)
    grads = S.selective_scan_backward_ref(*args, gy)
    for name, arg, grad in zip(NAMES, args, grads):
        numeric = np.zeros_like(arg)
        for idx in np.ndindex(arg.shape):
            old = arg[idx]
            arg[idx] = old + 1e-6
            up = (S.selective_scan_forward_ref(*args) * gy).sum()
            arg[idx] = old - 1e-6
            down = (S.selective_scan_forward_ref(*args) * gy).sum()
            arg[idx] = old
            numeric[idx] = (up - down) / 2e-6
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8, err_msg=name)


@pytest.mark.parametrize("with_D", [True, False])
def test_autograd_op_gradcheck(with_D):
    rng = np.random.default_rng(3)
    arrays = scan_inputs(rng, 2, 5, 3, 2)
    tensors = [minitx.tensor(a, dtype="float64", requires_grad=True) for a in arrays]
    if not with_D:
        tensors[-1] = None
    assert gradcheck(lambda *t: selective_scan(*t), tensors)


def test_bad_inputs_name_the_array():
    args = list(scan_inputs(np.random.default_rng(4), 1, 3, 2, 3))
    with pytest.raises(ValueError, match="B must have shape"):
        S.selective_scan_forward(*args[:3], args[3][:, :, :1], *args[4:])
    with pytest.raises(ValueError, match="A must be"):
        S.selective_scan_forward(args[0], args[1], args[2].T.copy(), *args[3:])
    with pytest.raises(ValueError, match="dtype"):
        S.selective_scan_forward(args[0].astype(np.float32), *args[1:])


def test_subprocess_twins_without_jit():
    rerun_twins_without_jit(__file__)
