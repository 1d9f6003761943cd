"""Gated linear attention (GLA) and ViG's bidirectional GLA: the chunked and recurrent forms
equal a NumPy loop of the gated recurrence for any chunk size; gradients by finite
differences; the gate really forgets; BiGLA is the forward pass plus the reversed one."""

import numpy as np
import pytest

import minitx
from minitx import mixers
from minitx.mixers.linear import gla


def gated_loop(q, k, v, log_a):
    """S <- diag(alpha) S + k^T v, o = q S, in NumPy."""
    B, H, T, D = q.shape
    S, out = np.zeros((B, H, D, v.shape[-1])), np.zeros(q.shape[:3] + (v.shape[-1],))
    for t in range(T):
        S = np.exp(log_a[:, :, t])[..., None] * S + np.einsum("bhd,bhe->bhde", k[:, :, t],
                                                              v[:, :, t])
        out[:, :, t] = np.einsum("bhd,bhde->bhe", q[:, :, t], S)
    return out


def random_inputs(rng, T=10, grad=False):
    shape = (2, 2, T, 3)
    q, k, v = (rng.standard_normal(shape) for _ in range(3))
    log_a = np.log(rng.uniform(0.3, 1.0, shape))
    return [minitx.tensor(a, dtype="float64", requires_grad=grad) for a in (q, k, v, log_a)]


@pytest.mark.parametrize("chunk", [1, 3, 4, 10, 16])
def test_forms_equal_the_gated_recurrence(chunk):
    q, k, v, log_a = random_inputs(np.random.default_rng(chunk))
    want = gated_loop(q.data, k.data, v.data, log_a.data)
    np.testing.assert_allclose(gla.recurrent_form(q, k, v, log_a).data, want, atol=1e-11)
    np.testing.assert_allclose(gla.chunked_form(q, k, v, log_a, chunk).data, want, atol=1e-11)


@pytest.mark.parametrize("form", ["chunked", "recurrent"])
def test_gradcheck_each_form(form):
    inputs = random_inputs(np.random.default_rng(7), T=7, grad=True)
    fn = (lambda *a: gla.chunked_form(*a, chunk_size=3)) if form == "chunked" else \
        gla.recurrent_form
    assert minitx.gradcheck(fn, inputs)


def test_a_closed_gate_forgets_everything_before_it():
    q, k, v, log_a = random_inputs(np.random.default_rng(8), T=8)
    log_a.data[:, :, 4] = -60.0  # alpha ~ 0 at t = 4: the state restarts there
    y = gla.chunked_form(q, k, v, log_a, 3).data
    k.data[:, :, :4] += 1.0  # change keys and values before the closed gate
    v.data[:, :, :4] -= 2.0
    np.testing.assert_allclose(gla.chunked_form(q, k, v, log_a, 3).data[:, :, 4:], y[:, :, 4:],
                               atol=1e-9)


def test_bigla_is_a_forward_and_a_reversed_pass():
    minitx.manual_seed(0)
    m = mixers.build("bigla", d_model=12, n_heads=3, causal=False, chunk_size=4).double()
    x = minitx.tensor(np.random.default_rng(2).standard_normal((2, 9, 12)), dtype="float64")
    ahead = m._run(m.forward_branch, x, "recurrent")
    behind = m._run(m.backward_branch, x.flip(1), "recurrent").flip(1)
    np.testing.assert_allclose(m(x).data, m._output(ahead + behind, x).data, atol=1e-12)
    x2 = x.data.copy()
    x2[:, -1] += 1.0  # the last token reaches the first output through the backward branch
    assert not np.allclose(m(minitx.tensor(x2, dtype="float64")).data[:, 0], m(x).data[:, 0])


def test_options_are_checked():
    with pytest.raises(ValueError, match="causal"):
        mixers.build("gla", d_model=8, n_heads=2, causal=False)
    with pytest.raises(ValueError, match="form"):
        mixers.build("gla", d_model=8, n_heads=2, form="parallel")
    with pytest.raises(ValueError, match="bidirectional"):
        mixers.build("bigla", d_model=8, n_heads=2, causal=True)
