"""ATLAS (Omega rule memory): the autograd forward equals a NumPy re-run of the update loop
written with an explicit sum over the window; step-by-step decoding equals forward; gradients
pass gradcheck in float64; Newton-Schulz approximates the orthogonal factor; and the Omega
rule with a window fits a span of context better than the one-token (delta) rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minitx
from minitx import mixers
from minitx.autograd import gradcheck
from minitx.mixers.ssm.atlas import NS_COEFFS, newton_schulz


def small(seed=0, **opts):
    minitx.manual_seed(seed)
    opts = {"window": 3, "degree": 2, **opts}
    return mixers.build("atlas", d_model=4, n_heads=2, **opts).double()


def sig(a):
    return 1 / (1 + np.exp(-a))


def ns_numpy(G, steps=5):
    a, b, c = NS_COEFFS
    X = G / math.sqrt((G * G).sum() + 1e-7)
    for _ in range(steps):
        A = X @ X.T
        X = a * X + (b * A + c * A @ A) @ X
    return X


def by_loops(m, x):
    """Re-run the Omega-rule update, one batch element, head, token and window entry at a time."""
    w = {n: p.data for n, p in m.named_parameters()}
    Bsz, T, C = x.shape
    H, d, c = m.H, m.d, m.window
    a = w["coef"]

    def phi(u):
        u = u / math.sqrt(u @ u + 1e-6)
        if m.degree == 1:
            return a[0] * u
        return np.concatenate([a[0] * u, a[1] * np.outer(u, u).ravel()])

    y = np.zeros((Bsz, T, C))
    for b in range(Bsz):
        qkv = x[b] @ w["qkv.weight"].T
        g = sig(x[b] @ w["gates.weight"].T + w["gates.bias"])
        for h in range(H):
            M, S = np.zeros((d, m.F)), np.zeros((d, m.F))
            sl = slice(h * d, (h + 1) * d)
            ks = [phi(qkv[t, C:][sl]) for t in range(T)]
            vs = [qkv[t, 2 * C:][sl] for t in range(T)]
            for t in range(T):
                gamma, eta, alpha, theta = (g[:, i * H + h] for i in range(4))
                M = alpha[t] * M
                for _ in range(m.inner_steps):
                    grad = sum(2 * gamma[i] * np.outer(M @ ks[i] - vs[i], ks[i])
                               for i in range(max(0, t - c + 1), t + 1))
                    S = theta[t] * S + grad
                    M = M - m.eta_max * eta[t] * (ns_numpy(S) if m.optimizer == "muon" else S)
                y[b, t, sl] = M @ phi(qkv[t, :C][sl])
    return y @ w["out.weight"].T


@pytest.mark.parametrize("optimizer,degree,inner", [("gd", 1, 1), ("gd", 2, 3), ("muon", 2, 1),
                                                    ("muon", 1, 2)])
def test_forward_equals_update_loop_by_hand(optimizer, degree, inner):
    m = small(1, optimizer=optimizer, degree=degree, inner_steps=inner)
    x = np.random.default_rng(2).standard_normal((2, 6, 4))
    np.testing.assert_allclose(m(minitx.tensor(x)).data, by_loops(m, x), rtol=1e-9, atol=1e-12)


def test_step_equals_forward():
    m = small(3, window=2, optimizer="muon")
    x = minitx.tensor(np.random.default_rng(4).standard_normal((2, 7, 4)))
    state, outs = m.init_state(2), []
    for t in range(7):
        y, state = m.step(x[:, t], state)
        outs.append(y.data)
    np.testing.assert_allclose(np.stack(outs, 1), m(x).data, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("optimizer", ["gd", "muon"])
def test_gradcheck(optimizer):
    m = small(5, optimizer=optimizer, window=2)
    x = minitx.tensor(np.random.default_rng(6).standard_normal((1, 4, 4)), requires_grad=True)
    assert gradcheck(lambda x, *p: m(x), [x, m.coef, m.gates.bias, m.qkv.weight])


def test_newton_schulz_approximates_the_orthogonal_factor():
    G = np.random.default_rng(7).standard_normal((4, 9))
    U, s, Vt = np.linalg.svd(G, full_matrices=False)
    X = newton_schulz(minitx.tensor(G)).data
    np.testing.assert_allclose(X, ns_numpy(G), rtol=1e-12)
    # Muon's coefficients trade exactness for speed: singular values land in about [0.7, 1.2]
    sv = np.linalg.svd(X, compute_uv=False)
    assert 0.6 < sv.min() and sv.max() < 1.25
    assert np.abs(np.sum(X * (U @ Vt))) / np.linalg.norm(X) / np.linalg.norm(U @ Vt) > 0.98


def window_residual(window, T=4, steps=100):
    """Run gd with constant gates (gamma = 1/2, alpha = 1, theta = 0); return the residual
    ||M phi(k_i) - v_i|| averaged over all T tokens after the last one."""
    m = small(8, window=window, optimizer="gd", inner_steps=steps, degree=2)
    H = m.H
    m.gates.weight.data[...] = 0
    m.gates.bias.data[...] = np.repeat([0.0, 0.0, 40.0, -40.0], H)  # gamma, eta, alpha, theta
    x = minitx.tensor(np.random.default_rng(9).standard_normal((1, T, 4)))
    state = m.init_state(1)
    for t in range(T):
        _, state = m.step(x[:, t], state)
    _, fk, v, *_ = m._project(x.reshape(T, 4))  # (T, H, F), (T, H, d)
    M = state["M"].data[0]  # (H, d, F)
    err = np.einsum("hdf,thf->thd", M, fk.data) - v.data
    return np.sqrt((err ** 2).sum(-1)).mean()


def test_omega_window_memorises_the_span_better_than_the_delta_rule():
    assert window_residual(window=4) < 0.5 * window_residual(window=1)


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="optimizer 'adam'"):
        mixers.build("atlas", d_model=8, optimizer="adam")
    with pytest.raises(ValueError, match="degree"):
        mixers.build("atlas", d_model=8, degree=3)
    with pytest.raises(ValueError, match="window"):
        mixers.build("atlas", d_model=8, window=0)
    with pytest.raises(ValueError, match="causal"):
        mixers.build("atlas", d_model=8, causal=False)
