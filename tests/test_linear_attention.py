"""Linear attention ("Transformers are RNNs"): the parallel, recurrent and chunked forms
equal each other and a brute-force NumPy definition; gradients by finite differences;
the non-causal global form; clear errors for bad options."""

import numpy as np
import pytest

import minitx
from minitx import mixers
from minitx.mixers.linear import linear_attention as la


def build(causal=True, **options):
    minitx.manual_seed(0)
    return mixers.build("linear", d_model=12, n_heads=3, causal=causal, **options).double()


def inputs(T=10, seed=0):
    return minitx.tensor(np.random.default_rng(seed).standard_normal((2, T, 12)), dtype="float64")


def phi(x, name):
    return np.where(x > 0, x + 1, np.exp(np.minimum(x, 0))) if name == "elu" else np.maximum(x, 0)


def brute_force(mixer, x, causal=True):
    """y_t = sum_{j <= t} (phi(q_t) . phi(k_j)) v_j / sum_{j <= t} phi(q_t) . phi(k_j), by loops."""
    B, T, C = x.shape
    H, D = mixer.n_heads, mixer.head_dim
    qkv = x.data @ mixer.qkv.weight.data.T + mixer.qkv.bias.data
    q, k, v = (a.reshape(B, T, H, D) for a in np.split(qkv, 3, axis=-1))
    fq, fk = phi(q, mixer.feature_map), phi(k, mixer.feature_map)
    y = np.zeros((B, T, H, D))
    for b in range(B):
        for h in range(H):
            for t in range(T):
                seen = range(t + 1) if causal else range(T)
                w = np.array([fq[b, t, h] @ fk[b, j, h] for j in seen])
                y[b, t, h] = sum(wj * v[b, j, h] for wj, j in zip(w, seen)) / (w.sum() + la.EPS)
    return y.reshape(B, T, C) @ mixer.out.weight.data.T + mixer.out.bias.data


@pytest.mark.parametrize("feature_map", la.FEATURE_MAPS)
@pytest.mark.parametrize("form", la.FORMS)
def test_each_form_equals_the_definition(feature_map, form):
    mixer, x = build(feature_map=feature_map, chunk_size=4), inputs(T=10)
    np.testing.assert_allclose(mixer(x, form=form).data, brute_force(mixer, x), atol=1e-10)


@pytest.mark.parametrize("T, chunk", [(1, 4), (7, 3), (12, 4), (9, 16)])
def test_chunked_equals_recurrent_for_any_chunking(T, chunk):
    mixer, x = build(chunk_size=chunk), inputs(T=T, seed=T)
    np.testing.assert_allclose(mixer(x, form="chunked").data, mixer(x, form="recurrent").data,
                               atol=1e-11)


def test_non_causal_global_form_equals_the_unmasked_definition():
    mixer, x = build(causal=False), inputs(T=8)
    np.testing.assert_allclose(mixer(x).data, brute_force(mixer, x, causal=False), atol=1e-10)
    np.testing.assert_allclose(mixer(x, form="parallel").data, mixer(x).data, atol=1e-11)


def test_mixing_matrix_reproduces_the_output_and_is_row_stochastic():
    mixer, x = build(), inputs(T=6)
    M = mixer.mixing_matrix(x)  # (B, H, T, T)
    assert np.allclose(np.triu(M, 1), 0), "a causal mixing matrix is lower triangular"
    np.testing.assert_allclose(M.sum(-1), 1.0, atol=1e-5)
    assert (M >= 0).all(), "positive features give non-negative weights"


FORM_FUNCTIONS = {"parallel": la.parallel_form, "recurrent": la.recurrent_form,
                  "chunked": lambda q, k, v: la.chunked_form(q, k, v, chunk_size=3),
                  "global": la.global_form}


@pytest.mark.parametrize("form", FORM_FUNCTIONS)
def test_gradcheck_every_form(form):
    rng = np.random.default_rng(1)
    fq, fk, v = (minitx.tensor(a, dtype="float64", requires_grad=True) for a in
                 (rng.random((1, 2, 7, 3)) + 0.1, rng.random((1, 2, 7, 3)) + 0.1,
                  rng.standard_normal((1, 2, 7, 2))))
    assert minitx.gradcheck(FORM_FUNCTIONS[form], [fq, fk, v])


def test_gradcheck_the_mixer_through_its_feature_map():
    mixer, x = build(chunk_size=3), inputs(T=5)
    x.requires_grad = True  # x and the projection biases: every path through phi is exercised
    assert minitx.gradcheck(lambda x, *ps: mixer(x), [x, mixer.qkv.bias, mixer.out.bias])


def test_relu_features_with_all_zero_rows_stay_finite():
    mixer = build(feature_map="relu")
    x = minitx.tensor(np.zeros((1, 5, 12)), dtype="float64")
    mixer.qkv.bias.data[:] = -1.0  # every feature is relu(-1) = 0
    assert np.isfinite(mixer(x).data).all()


def test_step_state_has_fixed_size():
    mixer, x = build(), inputs(T=9)
    state = mixer.init_state(2)
    for t in range(9):
        _, state = mixer.step(x[:, t], state)
    assert state["S"].shape == (2, 3, 4, 4) and state["z"].shape == (2, 3, 1, 4)


@pytest.mark.parametrize("options, match", [({"feature_map": "exp"}, "feature map"),
                                            ({"form": "fast"}, "form"),
                                            ({"chunk_size": 0}, "chunk_size")])
def test_bad_options_name_the_value(options, match):
    with pytest.raises(ValueError, match=match):
        mixers.build("linear", d_model=12, n_heads=3, **options)


def test_non_causal_mixer_refuses_to_step():
    with pytest.raises(ValueError, match="causal"):
        build(causal=False).init_state(1)
