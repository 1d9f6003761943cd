"""S4D and the FFT convolution: the three initialisations against the paper's formulas
(computed here independently), the Vandermonde kernel against the impulse response of the
recurrence, hand-written backwards against finite differences (float64), and the
convolution, the linear-recurrence scan and step-by-step decoding giving one output."""

import math

import numpy as np
import pytest

import minitx
from minitx.autograd.gradcheck import gradcheck
from minitx.mixers.ssm import _hippo as hippo
from minitx.mixers.ssm._conv import causal_conv, causal_conv_direct
from minitx.mixers.ssm.s4d import S4D, VandermondeKernel, s4d_init, s4d_kernel


def t64(a, grad=True):
    return minitx.tensor(np.asarray(a, dtype=np.float64), dtype="float64", requires_grad=grad)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_causal_conv_equals_the_definition_and_gradchecks(rng):
    u, k = t64(rng.standard_normal((2, 9, 3))), t64(rng.standard_normal((3, 9)))
    np.testing.assert_allclose(causal_conv(u, k).data, causal_conv_direct(u.data, k.data),
                               atol=1e-12)
    assert gradcheck(lambda a, b: causal_conv(a, b), [u, k])
    longer = t64(rng.standard_normal((3, 20)))  # extra taps beyond T are ignored
    np.testing.assert_allclose(causal_conv(u, longer).data,
                               causal_conv_direct(u.data, longer.data[:, :9]), atol=1e-12)
    with pytest.raises(ValueError, match="does not fit input"):
        causal_conv(u, t64(rng.standard_normal((3, 5))))


def test_inits_match_the_paper():
    N = 8
    A, B = s4d_init("lin", N)
    np.testing.assert_allclose(A, [-0.5 + 1j * math.pi * n for n in range(N // 2)])
    np.testing.assert_allclose(B, np.ones(N // 2))
    A, _ = s4d_init("inv", N)
    np.testing.assert_allclose(A, [-0.5 + 1j * N / math.pi * (N / (2 * n + 1) - 1)
                                   for n in range(N // 2)])
    # LegS: eigenvalues of the normal part A_LegS + P P^T, one per conjugate pair
    A_legs, _ = hippo.legs_matrices(N)
    P = np.sqrt(np.arange(N) + 0.5)
    eig = np.linalg.eigvals(A_legs + np.outer(P, P))
    A, B = s4d_init("legs", N)
    by_freq = lambda z: z[np.argsort(z.imag)]  # noqa: E731
    np.testing.assert_allclose(by_freq(A), by_freq(eig[eig.imag > 0]), atol=1e-10)
    assert np.abs(B).min() > 0


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="unknown init 'foo'.*legs, inv, lin"):
        S4D(4, init="foo")
    with pytest.raises(ValueError, match="d_state must be an even integer"):
        S4D(4, d_state=5)
    with pytest.raises(ValueError, match="dt_min"):
        S4D(4, dt_min=0.5, dt_max=0.1)
    with pytest.raises(ValueError, match="causal"):
        S4D(4, causal=False)


def random_ssm(rng, C=3, n=4):
    dt = rng.uniform(0.05, 0.5, C)
    A = -rng.uniform(0.1, 1.0, (C, n)) + 1j * rng.uniform(-3, 3, (C, n))
    B = rng.standard_normal((C, n)) + 1j * rng.standard_normal((C, n))
    Cc = rng.standard_normal((C, n)) + 1j * rng.standard_normal((C, n))
    return dt, A, B, Cc


def test_vandermonde_kernel_is_the_impulse_response(rng):
    dt, A, B, C = random_ssm(rng)
    L = 12
    K = VandermondeKernel.apply(t64(dt, False), *[t64(x, False) for p in (A, B, C)
                                                   for x in (p.real, p.imag)], L=L).data
    # the recurrence x_t = Abar x_{t-1} + Bbar u_t, y_t = 2 Re(C x_t), fed a unit impulse
    x = np.zeros_like(A)
    for l in range(L):
        x = np.exp(dt[:, None] * A) * x + (np.exp(dt[:, None] * A) - 1) / A * B * (l == 0)
        np.testing.assert_allclose(K[:, l], 2 * (C * x).sum(-1).real, atol=1e-12)
    np.testing.assert_allclose(K, s4d_kernel(dt, A, B, C, L), atol=1e-12)


def test_vandermonde_kernel_gradcheck(rng):
    dt, A, B, C = random_ssm(rng, C=2, n=3)
    inputs = [t64(dt)] + [t64(x) for p in (A, B, C) for x in (p.real, p.imag)]
    assert gradcheck(lambda *a: VandermondeKernel.apply(*a, L=7), inputs)


def mixer(init, d=4, d_state=6):
    minitx.manual_seed(3)
    return S4D(d, init=init, d_state=d_state, dt_min=0.05, dt_max=0.5).double()


@pytest.mark.parametrize("init", ["legs", "inv", "lin"])
def test_convolution_scan_and_step_agree(init, rng):
    m = mixer(init)
    u = rng.standard_normal((2, 11, 4))
    conv = m.ssm(t64(u, False)).data
    np.testing.assert_allclose(m.ssm.scan(u), conv, atol=1e-10)  # kernels.recurrence
    x = t64(u, False)
    state, outs = m.init_state(2), []
    for t in range(11):
        y, state = m.step(x[:, t], state)
        outs.append(y.data)
    np.testing.assert_allclose(np.stack(outs, 1), m(x).data, atol=1e-10)


def test_mixer_gradcheck_inputs_and_parameters(rng):
    m = mixer("legs", d=3, d_state=4)
    x = t64(rng.standard_normal((1, 5, 3)))
    params = [m.ssm.log_dt, m.ssm.log_a_re, m.ssm.a_im, m.ssm.c_re, m.D]
    for p in params:
        p.requires_grad_(True)
    assert gradcheck(lambda x, *ps: m(x), [x, *params])


def test_kernels_of_each_init_differ_and_decay(rng):
    Ks = {}
    for init in ("legs", "inv", "lin"):
        K = mixer(init, d=2, d_state=16).ssm.kernel(400).data
        assert np.isfinite(K).all()
        assert np.abs(K[:, -50:]).max() < np.abs(K[:, :50]).max()  # Re A < 0: it decays
        Ks[init] = K
    assert not np.allclose(Ks["legs"], Ks["lin"]) and not np.allclose(Ks["inv"], Ks["lin"])


@pytest.mark.parametrize("name", ["s4d", "s4", "h3", "hyena", "lmu"])
def test_in_a_gpt_the_structured_init_survives_and_the_loss_falls(name):
    from minitx.models import GPT, GPTConfig
    from minitx.optim import AdamW
    cfg = GPTConfig(vocab_size=8, block_size=16, n_layer=1, n_head=2, d_model=16, mixer=name,
                    mixer_options={"d_state": 8} if name in ("s4d", "s4", "h3") else {})
    model = GPT(cfg, seed=0)
    mixer_ = model.blocks[0].mixer
    default_init = {"s4d": "legs", "h3": "lin"}  # the mixers' default S4D inits
    if name in default_init:  # GPT's N(0, 0.02) init of matrices must not touch A
        A, _ = s4d_init(default_init[name], 8)
        np.testing.assert_allclose(mixer_.ssm.complex_params()[1][0], A, rtol=1e-6)
    ids = np.tile(np.arange(8), (4, 3))[:, :16]  # a periodic sequence: predictable
    opt = AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        _, loss = model(ids[:, :-1], ids[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all() and losses[-1] < 0.7 * losses[0], losses
