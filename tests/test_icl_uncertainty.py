"""In-context uncertainty quantification (Liu et al.): the Bayes predictive, calibration
helpers, the mean-and-variance regressor, and the experiment's claim at CI size."""

import json

import numpy as np
import pytest
from scipy.stats import norm

from minitx import experiments
from minitx.experiments import icl_uncertainty as unc
from minitx.icl import baselines as bl
from minitx.icl.models import ICLConfig
from minitx.icl.uncertainty import ICLGaussianRegressor, central_coverage, gaussian_nll
from minitx.tasks import icl


def test_registered_and_bad_configs_name_the_value():
    assert "icl-uncertainty" in experiments.names()
    with pytest.raises(ValueError, match="noise_std"):
        unc.Config(noise_std=0.0)
    with pytest.raises(ValueError, match="n_points"):
        unc.Config(dim=4, n_points=5)
    with pytest.raises(ValueError, match="shift"):
        unc.Config(shift=-1.0)


@pytest.mark.parametrize("k", [0, 2, 6])
def test_bayes_predictive_is_gaussian_conditioning(k):
    """Brute force: (y_1 .. y_k, y_q) is jointly N(0, tau^2 X X^T + sigma^2 I); condition."""
    sigma, tau, d = 0.4, 1.5, 3
    p = icl.make_prompts(5, k + 1, d, np.random.default_rng(k), noise_std=sigma, w_scale=tau)
    X, y, x_q, _ = p.split(k)
    mean, var = bl.bayes_predictive(X, y, x_q, sigma, tau)
    for b in range(5):
        Z = np.vstack([X[b], x_q[b]])  # (k + 1, d)
        cov = tau ** 2 * Z @ Z.T + sigma ** 2 * np.eye(k + 1)
        if k == 0:
            m, v = 0.0, cov[0, 0]
        else:
            gain = np.linalg.solve(cov[:k, :k], cov[:k, k])
            m, v = gain @ y[b], cov[k, k] - cov[k, :k] @ gain
        assert mean[b] == pytest.approx(m, abs=1e-10)
        assert var[b] == pytest.approx(v, abs=1e-10)
    with pytest.raises(ValueError, match="noise_std"):
        bl.bayes_predictive(X, y, x_q, 0.0)


def test_calibration_helpers_on_exact_gaussians():
    rng = np.random.default_rng(0)
    mean, var = rng.standard_normal(200_000), rng.uniform(0.2, 3.0, 200_000)
    y = mean + np.sqrt(var) * rng.standard_normal(200_000)
    levels = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(central_coverage(mean, var, y, levels), levels, atol=0.005)
    np.testing.assert_allclose(gaussian_nll(mean[:50], var[:50], y[:50]),
                               -norm.logpdf(y[:50], mean[:50], np.sqrt(var[:50])), atol=1e-12)
    with pytest.raises(ValueError, match="levels"):
        central_coverage(mean, var, y, [0.5, 1.0])


def test_gaussian_regressor_outputs_loss_and_causality():
    model = ICLGaussianRegressor(ICLConfig(dim=2, n_points=5, d_model=16, n_layer=2, n_head=2))
    p = icl.make_prompts(3, 5, 2, np.random.default_rng(1), noise_std=0.5)
    tokens = p.tokens()
    mean, var = model.predict(tokens)
    assert mean.shape == var.shape == (3, 5) and np.all(var > 0)
    loss = model.loss(tokens, p.ys)
    manual = np.mean(0.5 * (np.log(var) + (p.ys - mean) ** 2 / var))
    assert loss.item() == pytest.approx(manual, rel=1e-4)
    loss.backward()
    assert np.abs(model.read_out.weight.grad).sum() > 0
    changed = tokens.copy()
    changed[:, 5:] += 4.0  # tokens from x_3 on: predictions at x_1, x_2 must not move
    m2, v2 = model.predict(changed)
    np.testing.assert_allclose(m2[:, :3], mean[:, :3], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v2[:, :3], var[:, :3], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_quick_run_is_calibrated_in_distribution(tmp_path):
    """In distribution: predicted variance falls with k like the Bayes one, coverage is near
    nominal, NLL near (never below) Bayes.  Noise shift: both under-cover (the Bayes variance
    cannot see the labels' scale, and the model learned sigma).  Task shift: the model
    under-covers and its variance departs from the training-prior Bayes variance (which does
    not move) more than in distribution."""
    cfg = unc.Config.quick()
    result = unc.run(cfg, tmp_path)
    ind, levels = result["in_distribution"], result["levels"]
    i50, i90 = levels.index(0.5), levels.index(0.9)
    var = np.array(ind["model"]["variance_by_k"])
    assert var[-1] < 0.5 * var[0] and var[cfg.dim + 1] < var[0]
    assert ind["model"]["coverage"][i50] == pytest.approx(0.5, abs=0.08)
    assert ind["model"]["coverage"][i90] == pytest.approx(0.9, abs=0.06)
    assert ind["bayes"]["nll"] - 0.02 < ind["model"]["nll"] < ind["bayes"]["nll"] + 0.35
    noise = result["shifts"]["noise"]
    assert noise["model"]["coverage"][i90] < 0.82 and noise["bayes"]["coverage"][i90] < 0.82
    task = result["shifts"]["task"]  # w scaled up: the model's variance reacts to the labels,
    assert task["model"]["coverage"][i90] < 0.85  # too little, and unlike the Bayes rule's
    assert task["log_variance_ratio_to_bayes"] > ind["log_variance_ratio_to_bayes"] + 0.1
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["in_distribution"]["model"]["nll"] == ind["model"]["nll"]
    for name in ("reliability.png", "variance_vs_k.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert any("coverage" in line for line in unc.summary_lines(result))
