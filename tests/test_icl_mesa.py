"""Mesa-optimisation (Zheng et al.): AR sequences, the causal linear attention layer, the
one-step-GD predictor, and the experiment's claim at CI size."""

import json

import numpy as np
import pytest

import minitx
from minitx import experiments
from minitx.autograd.tensor import Tensor
from minitx.experiments import icl_mesa
from minitx.icl import mesa
from minitx.tasks import icl


def test_registered_and_bad_configs_name_the_value():
    assert "icl-mesa" in experiments.names()
    with pytest.raises(ValueError, match="dim"):
        icl_mesa.Config(dim=3)
    with pytest.raises(ValueError, match="transition"):
        icl_mesa.Config(transition="shear")
    with pytest.raises(ValueError, match="seq_len"):
        icl_mesa.Config(seq_len=2)
    with pytest.raises(ValueError, match="start"):
        icl.ar_sequences(2, 5, 4, np.random.default_rng(0), start="uniform")


@pytest.mark.parametrize("transition", ["rotation", "orthogonal"])
@pytest.mark.parametrize("start", ["gaussian", "unit_modulus"])
def test_ar_sequences_follow_their_transition(transition, start):
    xs, W = icl.ar_sequences(5, 7, 4, np.random.default_rng(1), transition=transition,
                             start=start)
    for b in range(5):
        np.testing.assert_allclose(W[b] @ W[b].T, np.eye(4), atol=1e-12)  # orthogonal
        for t in range(6):
            np.testing.assert_allclose(xs[b, t + 1], W[b] @ xs[b, t], atol=1e-12)
    if transition == "rotation":
        np.testing.assert_allclose(np.linalg.det(W), 1.0, atol=1e-12)
        assert np.all(W[:, 0, 2:] == 0) and np.all(W[:, 2:, :2] == 0)  # 2 x 2 blocks
    if start == "unit_modulus":  # rotation blocks keep every pair's modulus; others only x_1
        pairs = np.hypot(xs[:, :, 0::2], xs[:, :, 1::2])
        np.testing.assert_allclose(pairs if transition == "rotation" else pairs[:, 0], 1.0,
                                   atol=1e-12)


def test_mesa_embedding_columns():
    xs = np.random.default_rng(2).standard_normal((2, 4, 3))
    E = icl.mesa_embedding(xs)
    for t in range(4):
        prev = xs[:, t - 1] if t else np.zeros((2, 3))
        np.testing.assert_array_equal(E[:, :, t], np.concatenate([np.zeros((2, 3)), xs[:, t],
                                                                  prev], axis=1))


def _brute_force(w_kq, w_pv, E, d):
    """y_hat_t = [W^PV sum_{i<=t} e_i (e_i^T W^KQ e_t)]_{1:d} / max(t - 1, 1), one t at a time."""
    B, _, T = E.shape
    out = np.zeros((B, d, T))
    for b in range(B):
        for t in range(T):
            acc = sum(w_pv @ E[b, :, i] * (E[b, :, i] @ w_kq @ E[b, :, t]) for i in range(t + 1))
            out[b, :, t] = acc[:d] / max(t, 1)
    return out


def test_layer_equals_its_definition_and_is_causal():
    rng = np.random.default_rng(3)
    d = 2
    model = mesa.CausalLinearAttention(d, *mesa.gaussian_init(d, 0.5, rng))
    xs, _ = icl.ar_sequences(3, 6, d, rng)
    E = icl.mesa_embedding(xs)
    out = model(E).data
    np.testing.assert_allclose(out, _brute_force(model.w_kq.data, model.w_pv.data, E, d),
                               atol=1e-12)
    changed = xs.copy()
    changed[:, 4:] += 3.0
    np.testing.assert_allclose(model(icl.mesa_embedding(changed)).data[:, :, :4], out[:, :, :4],
                               atol=1e-12)
    with pytest.raises(ValueError, match="expected E"):
        model(np.zeros((1, 5, 4)))


def test_layer_gradients_match_finite_differences():
    rng = np.random.default_rng(4)
    model = mesa.CausalLinearAttention(2, *mesa.gaussian_init(2, 0.5, rng))
    xs, _ = icl.ar_sequences(2, 5, 2, rng)
    E = Tensor(icl.mesa_embedding(xs))
    assert minitx.gradcheck(lambda kq, pv: mesa.ar_loss(model, E, xs),
                            [model.w_kq, model.w_pv])


def test_diagonal_init_is_one_gd_step_with_eta_ab():
    rng = np.random.default_rng(5)
    xs, _ = icl.ar_sequences(4, 9, 4, rng)
    model = mesa.CausalLinearAttention(4, *mesa.diagonal_init(4, 0.7, -1.3))
    pred = model(icl.mesa_embedding(xs)).data
    np.testing.assert_allclose(pred, mesa.gd_predict(xs, 0.7 * -1.3), atol=1e-12)
    assert mesa.fit_eta(pred, xs) == pytest.approx(-0.91)
    kq, pv = model.blocks()
    np.testing.assert_array_equal(kq, 0.7 * np.eye(4))
    np.testing.assert_array_equal(pv, -1.3 * np.eye(4))


def test_gd_estimates_and_best_eta_against_brute_force():
    rng = np.random.default_rng(6)
    xs, _ = icl.ar_sequences(3, 8, 2, rng)
    G = mesa.gd_estimates(xs)
    for t in range(1, 8):  # W_hat_t / eta: the gradient of the OLS loss at W' = 0, over t - 1 pairs
        brute = sum(np.einsum("bi,bj->bij", xs[:, i + 1], xs[:, i]) for i in range(t)) / t
        np.testing.assert_allclose(G[:, t], brute, atol=1e-12)
    assert np.all(G[:, 0] == 0)

    def loss(eta):
        g = mesa.gd_predict(xs, eta)[:, :, 1:-1]
        return ((g - xs[:, 2:].transpose(0, 2, 1)) ** 2).sum()
    best = mesa.best_eta(xs)
    assert loss(best) <= min(loss(best - 1e-3), loss(best + 1e-3))


@pytest.mark.slow
def test_quick_run_learns_one_gd_step(tmp_path):
    """The trained layer's predictions sit near one GD step (the untrained layer's do not),
    its GD blocks are near multiples of I with ab near the best step, and W_hat recovers W
    (up to scale) for unit-modulus starts but not for Gaussian ones."""
    result = icl_mesa.run(icl_mesa.Config.quick(), tmp_path)
    runs = result["runs"]
    assert result["untrained"]["rel_gap"] > 0.8
    for name in ("diagonal_init/gaussian", "diagonal_init/unit_modulus"):
        r = runs[name]
        assert r["rel_gap"] < 0.25 and r["rel_gap"] < 0.3 * result["untrained"]["rel_gap"], name
        assert r["kq_identity_deviation"] < 0.25 and r["pv_identity_deviation"] < 0.25, name
        assert r["ab"] == pytest.approx(r["best_eta"], rel=0.25), name
        assert r["other_weights"]["relative_total"] < 0.4, name
    unit = runs["diagonal_init/unit_modulus"]["recovery"]
    gauss = runs["diagonal_init/gaussian"]["recovery"]
    assert unit[-1]["scale_free_error"] < 0.15 < 0.3 < gauss[-1]["scale_free_error"]
    assert unit[-1]["scale_free_error"] < 0.5 * unit[0]["scale_free_error"]
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["runs"]["diagonal_init/gaussian"]["ab"] == runs["diagonal_init/gaussian"]["ab"]
    for name in ("mesa_vs_gd.png", "weights.png", "recovery.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert any("one GD step" in line for line in icl_mesa.summary_lines(result))
