"""DeltaNet: the chunkwise WY form equals the token recurrence and a NumPy loop of the delta
rule for any chunk size; gradients by finite differences (the triangular inverse included);
the delta rule overwrites an association where linear attention would add to it."""

import numpy as np
import pytest

import minitx
from minitx import mixers
from minitx.mixers.linear import deltanet as dn


def delta_rule_loop(q, k, v, beta):
    """S <- S + beta k^T (v - k S), o = q S, in NumPy, one token at a time."""
    B, H, T, D = q.shape
    S = np.zeros((B, H, D, v.shape[-1]))
    out = np.zeros(q.shape[:3] + (v.shape[-1],))
    for t in range(T):
        k_t, v_t, b_t = k[:, :, t], v[:, :, t], beta[:, :, t]
        predicted = np.einsum("bhd,bhde->bhe", k_t, S)
        S = S + np.einsum("bhd,bhe->bhde", k_t, b_t * (v_t - predicted))
        out[:, :, t] = np.einsum("bhd,bhde->bhe", q[:, :, t], S)
    return out


def random_inputs(rng, T=10, grad=False):
    B, H, D = 2, 2, 3
    q = rng.standard_normal((B, H, T, D))
    k = rng.standard_normal((B, H, T, D))
    k /= np.linalg.norm(k, axis=-1, keepdims=True)
    v, beta = rng.standard_normal((B, H, T, D)), rng.random((B, H, T, 1))
    return [minitx.tensor(a, dtype="float64", requires_grad=grad) for a in (q, k, v, beta)]


@pytest.mark.parametrize("chunk", [1, 3, 4, 10, 16])
def test_chunked_and_recurrent_forms_equal_the_delta_rule(chunk):
    q, k, v, beta = random_inputs(np.random.default_rng(chunk))
    want = delta_rule_loop(q.data, k.data, v.data, beta.data)
    np.testing.assert_allclose(dn.recurrent_form(q, k, v, beta).data, want, atol=1e-12)
    np.testing.assert_allclose(dn.chunked_form(q, k, v, beta, chunk).data, want, atol=1e-12)


def test_unit_lower_inverse_gradcheck():
    rng = np.random.default_rng(0)
    L = np.tril(rng.standard_normal((2, 4, 4)), -1) + np.eye(4)
    L = minitx.tensor(L, dtype="float64", requires_grad=True)
    # only the strictly lower entries of a unit lower-triangular matrix are free
    assert minitx.gradcheck(lambda L: dn.UnitLowerInverse.apply(L.tril(-1) + np.eye(4)), [L])


@pytest.mark.parametrize("form", ["chunked", "recurrent"])
def test_gradcheck_each_form(form):
    q, k, v, beta = random_inputs(np.random.default_rng(5), T=7, grad=True)
    fn = (lambda *a: dn.chunked_form(*a, chunk_size=3)) if form == "chunked" else \
        dn.recurrent_form
    assert minitx.gradcheck(fn, [q, k, v, beta])


def test_delta_rule_overwrites_where_linear_attention_accumulates():
    key = np.array([1.0, 0.0, 0.0])
    q = minitx.tensor(np.tile(key, (1, 1, 2, 1)), dtype="float64")
    k = minitx.tensor(np.tile(key, (1, 1, 2, 1)), dtype="float64")
    v = minitx.tensor(np.array([[[[1.0, 2.0, 3.0], [-4.0, 0.5, 7.0]]]]), dtype="float64")
    beta = minitx.tensor(np.ones((1, 1, 2, 1)), dtype="float64")
    read = dn.chunked_form(q, k, v, beta, chunk_size=2).data[0, 0, 1]
    np.testing.assert_allclose(read, v.data[0, 0, 1], atol=1e-12)  # the newest value only
    summed = v.data[0, 0, 0] + v.data[0, 0, 1]  # what plain linear attention would read back
    assert not np.allclose(read, summed)


def test_mixer_forms_agree_and_it_refuses_bidirectional_use():
    minitx.manual_seed(0)
    m = mixers.build("deltanet", d_model=12, n_heads=3, chunk_size=4).double()
    x = minitx.tensor(np.random.default_rng(1).standard_normal((2, 9, 12)), dtype="float64")
    np.testing.assert_allclose(m(x, form="recurrent").data, m(x).data, atol=1e-12)
    with pytest.raises(ValueError, match="causal"):
        mixers.build("deltanet", d_model=12, n_heads=3, causal=False)
    with pytest.raises(ValueError, match="form"):
        mixers.build("deltanet", d_model=12, n_heads=3, form="parallel")
