"""S4: the Cauchy + Woodbury kernel at the roots of unity against two dense routes (the
generating function by solves, and materialised powers of the bilinear DPLR matrix),
its hand-written backward against finite differences, and the convolution against the
recurrence."""

import numpy as np
import pytest

import minitx
from minitx.autograd.gradcheck import gradcheck
from minitx.mixers.ssm import _hippo as hippo
from minitx.mixers.ssm.s4 import (S4, CauchyKernel, discretize_dplr, dplr_dense,
                                  kernel_generating, kernel_powers)


def t64(a, grad=True):
    return minitx.tensor(np.asarray(a, dtype=np.float64), dtype="float64", requires_grad=grad)


def random_dplr(rng, C=2, N=4, scale=0.5):
    dt = rng.uniform(0.1, 0.5, C)
    lam = -rng.uniform(0.2, 1.0, (C, N)) + 1j * rng.uniform(-3, 3, (C, N))
    p, q, b, ct = (scale * (rng.standard_normal((C, N)) + 1j * rng.standard_normal((C, N)))
                   for _ in range(4))
    return dt, lam, p, q, b, ct


def cauchy(dt, *complex_params, L):
    pairs = [t64(x, False) for z in complex_params for x in (z.real, z.imag)]
    return CauchyKernel.apply(t64(dt, False), *pairs, L=L).data


@pytest.mark.parametrize("L", [1, 8, 13])
def test_three_kernel_routes_agree_on_random_dplr(L):
    params = random_dplr(np.random.default_rng(L))
    K = cauchy(*params, L=L)
    np.testing.assert_allclose(K, kernel_generating(*params, L), atol=1e-10)
    np.testing.assert_allclose(K, kernel_powers(*params, L), atol=1e-10)


def test_legs_init_is_hippo_legs_and_gives_real_kernels():
    minitx.manual_seed(0)
    m = S4(3, d_state=6, l_max=32, dt_min=0.05, dt_max=0.2).double()
    dt, lam, p, q, b, ct = m.ssm.complex_params()
    _, _, _, V = hippo.legs_nplr(6)
    A_legs, B_legs = hippo.legs_matrices(6)
    for c in range(3):  # back in the Legendre basis, A and B are LegS's (real) matrices
        np.testing.assert_allclose(V @ dplr_dense(lam[c], p[c], q[c]) @ V.conj().T, A_legs,
                                   atol=1e-5)  # parameters are stored in float32
        np.testing.assert_allclose(V @ b[c], B_legs, atol=1e-5)
    Abar, _ = discretize_dplr(dt, lam, p, q, b)
    assert np.abs(np.linalg.eigvals(Abar)).max() < 1  # bilinear keeps it stable
    K = m.ssm.kernel(32).data
    np.testing.assert_allclose(K, kernel_powers(dt, lam, p, q, b, ct, 32), atol=1e-10)


def test_cauchy_kernel_gradcheck():
    rng = np.random.default_rng(1)
    dt, lam, p, q, b, ct = random_dplr(rng, C=2, N=3)
    inputs = [t64(dt)] + [t64(x) for z in (lam, p, q, b, ct) for x in (z.real, z.imag)]
    assert gradcheck(lambda *a: CauchyKernel.apply(*a, L=6), inputs)


def test_convolution_equals_recurrence_and_gradchecks():
    rng = np.random.default_rng(2)
    minitx.manual_seed(1)
    m = S4(3, d_state=4, l_max=16, dt_min=0.05, dt_max=0.5).double()
    x = t64(rng.standard_normal((2, 10, 3)), False)
    state, outs = m.init_state(2), []
    for t in range(10):
        y, state = m.step(x[:, t], state)
        outs.append(y.data)
    np.testing.assert_allclose(np.stack(outs, 1), m(x).data, atol=1e-10)
    xg = t64(rng.standard_normal((1, 4, 3)))
    params = [m.ssm.log_dt, m.ssm.lam_im, m.ssm.p_re, m.ssm.ct_im]
    assert gradcheck(lambda x, *ps: m(x), [xg, *params])


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="exceeds l_max=8"):
        S4(2, d_state=4, l_max=8)(t64(np.zeros((1, 9, 2)), False))
    with pytest.raises(ValueError, match="l_max must be a positive int"):
        S4(2, l_max=0)
    with pytest.raises(ValueError, match="causal"):
        S4(2, causal=False)
