"""Properties every registered mixer must have, checked over the whole registry so a
new mixer cannot skip them: the (B, T, D) -> (B, T, D) interface, causality when
built causal, and step-by-step decoding equal to the parallel form where offered."""

import numpy as np
import pytest

import minitx
from minitx import mixers

NAMES = mixers.names()


def build(name, causal=True):
    minitx.manual_seed(0)
    # eval mode: a mixer that samples in training (info-pathways) is a fixed function here
    return mixers.build(name, d_model=16, n_heads=2, causal=causal).double().eval()


def test_registry_is_not_empty_and_names_are_unique():
    assert len(NAMES) == len(set(NAMES)) >= 10


def bidirectional_only(name):
    """A mixer that is bidirectional by construction (Hydra, ...) sets ``causal_capable = False``."""
    return not getattr(mixers.get(name), "causal_capable", True)


@pytest.mark.parametrize("name", NAMES)
def test_shape_and_causality(name):
    mixer = build(name, causal=not bidirectional_only(name))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 9, 16))
    y = mixer(minitx.tensor(x, dtype="float64")).data
    assert y.shape == (2, 9, 16) and np.isfinite(y).all()
    if bidirectional_only(name):
        with pytest.raises(ValueError, match="causal"):
            mixers.build(name, d_model=16, n_heads=2, causal=True)
        return
    x2 = x.copy()
    x2[:, 5:] += rng.standard_normal((2, 4, 16))
    y2 = mixer(minitx.tensor(x2, dtype="float64")).data
    np.testing.assert_allclose(y[:, :5], y2[:, :5], atol=1e-10,
                               err_msg=f"{name}: outputs before t=5 depend on later inputs")
    assert not np.allclose(y[:, 5:], y2[:, 5:]), f"{name}: later outputs ignore their inputs"


STEPPERS = [n for n in NAMES if hasattr(mixers.get(n), "step") and not bidirectional_only(n)]


@pytest.mark.parametrize("name", STEPPERS)
def test_step_equals_parallel_form(name):
    mixer = build(name)
    x = minitx.tensor(np.random.default_rng(1).standard_normal((2, 7, 16)), dtype="float64")
    try:
        state = mixer.init_state(2)
        outs = []
        for t in range(7):
            y_t, state = mixer.step(x[:, t], state)
            outs.append(y_t.data)
    except (TypeError, ValueError) as e:  # a mixer may say clearly why it cannot decode
        pytest.skip(f"{name}: {e}")
    np.testing.assert_allclose(np.stack(outs, 1), mixer(x).data, atol=1e-9)


@pytest.mark.parametrize("name", ["linear", "gla", "deltanet"])
def test_the_python_token_loop_form_equals_the_default_form(name):
    """form="loop" runs recurrent_form_loop (the loop to read, and the benchmarks' baseline)."""
    minitx.manual_seed(0)
    m = mixers.build(name, d_model=12, n_heads=3).double()
    x = minitx.tensor(np.random.default_rng(1).standard_normal((2, 9, 12)), dtype="float64")
    np.testing.assert_allclose(m(x, form="loop").data, m(x).data, atol=1e-10)
