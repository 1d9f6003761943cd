"""A transformer that predicts a mean and a variance in context, against the Bayes posterior.

Paper: "Towards Better Understanding of In-Context Learning Ability from In-Context
Uncertainty Quantification" (Liu, Cai, Chen & Li).  Its claims, from the abstract:
trained to predict both E[y | x] and Var(y | x), the transformer "reaches near
Bayes-optimum" in distribution, but "does not necessarily perform a Bayesian
inference when facing task shifts"; it also reports behaviour under covariate and
prompt-length shift.

Setup: y = w.x + sigma eps, w ~ N(0, tau^2 I), x ~ N(0, I), sigma known and fixed;
``minitx.icl.uncertainty.ICLGaussianRegressor`` trained with Gaussian NLL.  The Bayes
posterior predictive (``minitx.icl.baselines.bayes_predictive``) is
N(x_q^T m, sigma^2 + x_q^T A^{-1} x_q), A = X^T X / sigma^2 + I / tau^2.

Measured on held-out prompts, at every number of examples k: the predicted variance
(model and Bayes), the NLL, the squared error of the mean; over all k: coverage of
central intervals at levels 0.1 .. 0.95 (the reliability curve), 50% and 90% in
particular.  Then three shifts, each scored against the Bayes predictive that still
uses the training prior (what "performing Bayesian inference" with the learned prior
would give): task shift w ~ N(0, (c tau)^2 I), noise shift sigma -> c sigma, covariate
shift x ~ N(0, c^2 I).  Note the Bayes variance never looks at the labels, so no
label-side shift (task or noise) can change it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..autograd.function import no_grad
from ..icl import baselines
from ..icl.models import ICLConfig
from ..icl.uncertainty import ICLGaussianRegressor, central_coverage, gaussian_nll
from ..io import write_json
from ..plotting import pyplot, save_figure
from ..tasks import icl
from ..train import TrainConfig, train

NAME = "icl-uncertainty"
SUMMARY = ("a transformer trained with Gaussian NLL predicts calibrated in-context variances "
           "close to the Bayes posterior, not under task shift (Liu et al.)")
LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


@dataclass(frozen=True)
class Config:
    dim: int = 4                    # d
    n_points: int = 16              # K
    noise_std: float = 0.5          # sigma, known and fixed in training
    w_scale: float = 1.0            # tau, the prior scale of w
    d_model: int = 64
    n_layer: int = 4
    n_head: int = 4
    batch_size: int = 128
    steps: int = 4000
    lr: float = 1e-3
    warmup_steps: int = 200
    n_eval: int = 4000
    shift: float = 2.0              # c in every shift
    seed: int = 0
    progress: bool = True

    @classmethod
    def quick(cls):
        return cls(dim=2, n_points=8, d_model=32, n_layer=3, n_head=4, batch_size=128,
                   steps=700, lr=3e-3, warmup_steps=50, n_eval=2000, progress=False)

    def __post_init__(self):
        if self.noise_std <= 0 or self.w_scale <= 0:
            raise ValueError(f"{NAME}: noise_std and w_scale must be > 0 (the Bayes predictive "
                             f"needs them), got {self.noise_std}, {self.w_scale}")
        if self.n_points < self.dim + 2:
            raise ValueError(f"{NAME}: n_points must be >= dim + 2 = {self.dim + 2}, got "
                             f"{self.n_points}")
        if self.shift <= 0:
            raise ValueError(f"{NAME}: shift must be > 0, got {self.shift}")


def build_model(cfg: Config) -> ICLGaussianRegressor:
    return ICLGaussianRegressor(ICLConfig(dim=cfg.dim, n_points=cfg.n_points, d_model=cfg.d_model,
                                          n_layer=cfg.n_layer, n_head=cfg.n_head), seed=cfg.seed)


def _prompts(cfg, n, rng, noise_scale=1.0, w_factor=1.0, x_scale=1.0):
    return icl.make_prompts(n, cfg.n_points, cfg.dim, rng, noise_std=cfg.noise_std * noise_scale,
                            w_scale=cfg.w_scale * w_factor, x_scale=x_scale)


def train_model(cfg: Config, out: Path):
    model = build_model(cfg)

    def batch_fn(step, rng):
        p = _prompts(cfg, cfg.batch_size, rng)
        return p.tokens(), p.ys
    tcfg = TrainConfig(steps=cfg.steps, lr=cfg.lr, warmup_steps=cfg.warmup_steps, seed=cfg.seed,
                       log_every=25, progress=cfg.progress, weight_decay=0.0)
    history = train(model, batch_fn, tcfg, out_dir=out, resume=False,
                    loss_fn=lambda m, batch: m.loss(*batch))
    return model, history


def bayes_all_positions(cfg, prompts):
    """The training-prior Bayes predictive at every position: (mean (B, K), var (B, K))."""
    xs, ys = prompts.xs, prompts.ys
    parts = [baselines.bayes_predictive(xs[:, :k], ys[:, :k], xs[:, k], cfg.noise_std,
                                        cfg.w_scale) for k in range(cfg.n_points)]
    return np.stack([m for m, _ in parts], 1), np.stack([v for _, v in parts], 1)


def evaluate(cfg, model, prompts) -> dict:
    """Model and Bayes side by side on one set of prompts."""
    with no_grad():
        mean, var = model.predict(prompts.tokens())
    b_mean, b_var = bayes_all_positions(cfg, prompts)
    ys = prompts.ys
    out = {}
    for name, (m, v) in (("model", (mean, var)), ("bayes", (b_mean, b_var))):
        out[name] = {"variance_by_k": v.mean(0).tolist(),
                     "squared_error_by_k": ((m - ys) ** 2).mean(0).tolist(),
                     "nll_by_k": gaussian_nll(m, v, ys).mean(0).tolist(),
                     "nll": float(gaussian_nll(m, v, ys).mean()),
                     "coverage": central_coverage(m, v, ys, LEVELS).tolist()}
    scale = float(np.mean(ys ** 2))
    out["mean_gap_to_bayes"] = float(np.mean((mean - b_mean) ** 2) / scale)
    out["log_variance_ratio_to_bayes"] = float(np.mean(np.abs(np.log(var / b_var))))
    return out


def run(cfg: Config, out_dir) -> dict:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model, history = train_model(cfg, out / "train")
    rng = lambda tag: np.random.default_rng([cfg.seed, 7000, tag])  # noqa: E731
    c = cfg.shift
    result = {"experiment": NAME, "config": asdict(cfg), "levels": list(LEVELS),
              "parameters": model.num_parameters(), "train_seconds": history["time_s"],
              "loss_curve": [[r["step"], r["loss"]] for r in history["log"]],
              "in_distribution": evaluate(cfg, model, _prompts(cfg, cfg.n_eval, rng(0))),
              "shifts": {
                  "task": evaluate(cfg, model, _prompts(cfg, cfg.n_eval, rng(1), w_factor=c)),
                  "noise": evaluate(cfg, model, _prompts(cfg, cfg.n_eval, rng(2), noise_scale=c)),
                  "covariate": evaluate(cfg, model, _prompts(cfg, cfg.n_eval, rng(3),
                                                             x_scale=c))}}
    result["seconds"] = time.perf_counter() - t0
    _plot_reliability(result, out / "reliability.png")
    _plot_variance(result, out / "variance_vs_k.png")
    write_json(result, out / "result.json")
    return result


def _plot_reliability(result, path):
    plt = pyplot()
    blocks = {"in distribution": result["in_distribution"], **{
        f"{k} shift": v for k, v in result["shifts"].items()}}
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    for i, (name, block) in enumerate(blocks.items()):
        line, = ax.plot(result["levels"], block["model"]["coverage"], "o-", ms=3, label=name)
        ax.plot(result["levels"], block["bayes"]["coverage"], "--", color=line.get_color(),
                lw=0.9)
    ax.set_xlabel("nominal level of the central interval")
    ax.set_ylabel("empirical coverage")
    ax.set_title("reliability (solid: transformer, dashed: Bayes)", fontsize=9)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def _plot_variance(result, path):
    plt = pyplot()
    ind = result["in_distribution"]
    ks = range(len(ind["model"]["variance_by_k"]))
    fig, axes = plt.subplots(1, 2, figsize=(8.6, 3.4))
    for name, style in (("model", "o-"), ("bayes", "k--")):
        axes[0].semilogy(ks, ind[name]["variance_by_k"], style, label=f"{name}: predicted var")
        axes[1].plot(ks, ind[name]["nll_by_k"], style, label=name)
    axes[0].semilogy(ks, ind["model"]["squared_error_by_k"], "s:", ms=3,
                     label="model: squared error")
    axes[0].axhline(result["config"]["noise_std"] ** 2, color="gray", lw=0.8, ls=":")
    axes[0].set_xlabel("in-context examples k (dotted: sigma^2)")
    axes[0].set_ylabel("variance")
    axes[0].legend(fontsize=8)
    axes[1].set_xlabel("in-context examples k")
    axes[1].set_ylabel("NLL")
    axes[1].legend(fontsize=8)
    save_figure(fig, path)


def summary_lines(result) -> list:
    ind, levels = result["in_distribution"], result["levels"]
    i50, i90 = levels.index(0.5), levels.index(0.9)
    lines = []
    for name, block in (("in distribution", ind), *result["shifts"].items()):
        m, b = block["model"], block["bayes"]
        lines.append(f"{name}: coverage 50%/90% model {m['coverage'][i50]:.3f}/"
                     f"{m['coverage'][i90]:.3f}, Bayes {b['coverage'][i50]:.3f}/"
                     f"{b['coverage'][i90]:.3f}; NLL model {m['nll']:.3f}, Bayes {b['nll']:.3f};"
                     f" mean gap to Bayes {block['mean_gap_to_bayes']:.4f}, |log var ratio| "
                     f"{block['log_variance_ratio_to_bayes']:.3f}")
    v, bv = ind["model"]["variance_by_k"], ind["bayes"]["variance_by_k"]
    lines.append(f"predicted variance k = 0 -> {len(v) - 1}: model {v[0]:.3f} -> {v[-1]:.3f}, "
                 f"Bayes {bv[0]:.3f} -> {bv[-1]:.3f}")
    lines.append(f"{result['parameters']:,} parameters, trained in {result['train_seconds']:.0f} s")
    return lines
