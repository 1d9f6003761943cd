"""Layer by layer, a trained transformer's read-out tracks iterative Newton, not gradient descent.

Paper: "Transformers Learn Higher-Order Optimization Methods for In-Context
Learning: A Study with Linear Models" (Fu et al.).  A GPT-style regressor
(``minitx.icl.models.ICLRegressor``) is trained on noiseless linear regression
prompts (x ~ N(0, I_d), w ~ N(0, I_d)).  A linear probe per (layer, x position)
reads a prediction out of the residual stream after every block
(``minitx.icl.probes``), and every layer is compared with

  * iterative Newton, w_j = M_j X^T y with the Newton-Schulz iterates
    M_0 = alpha S, M_{j+1} = 2 M_j - M_j S M_j for S = X^T X  (j = 0, 1, 2, ...),
  * gradient descent with the per-prompt safe step, after 1, 2, 4, ..., 2^m steps.

The paper's claim: successive layers match successive Newton iterations (about
three per middle layer), so the error falls roughly geometrically with depth,
while matching one more layer takes exponentially more GD steps.  Measured here:
each layer's read-out error (over d, averaged over positions k >= d, where least
squares is exact and every method converges), the best-matching Newton iteration
and GD step count (smallest mean squared difference of predictions on the same
prompts), and the Newton iterations and GD steps needed to reach each layer's error.

Reading the two algorithms on one axis: from M_0 = S / lambda_max^2 the Newton
residual along an eigen-direction with mu = lambda / lambda_max is (1 - mu^2)^(2^j)
after j iterations, while GD with step 1 / lambda_max leaves (1 - mu)^t after t steps;
they meet at t ~ mu 2^j, so matching each further Newton iteration doubles the GD
steps.  The claim to look for is therefore additive growth of the matched Newton
iteration with depth against multiplicative growth of the matched GD step count.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..autograd.function import no_grad
from ..icl import baselines
from ..icl.models import ICLConfig, ICLRegressor
from ..icl.probes import LayerProbes, hidden_states
from ..io import write_json
from ..plotting import pyplot, save_figure
from ..tasks import icl
from ..train import TrainConfig, train

NAME = "icl-higher-order"
SUMMARY = ("per-layer read-outs of a trained transformer track iterative Newton, while GD needs "
           "exponentially more steps (Fu et al.)")


@dataclass(frozen=True)
class Config:
    dim: int = 4                    # d
    n_points: int = 12              # K examples per prompt
    d_model: int = 64
    n_layer: int = 8
    n_head: int = 4
    batch_size: int = 64
    steps: int = 3000
    lr: float = 1e-3
    warmup_steps: int = 200
    n_probe: int = 4000             # prompts the probes are fitted on
    n_eval: int = 2000              # held-out prompts every comparison is measured on
    probe_ridge: float = 1e-4
    newton_steps: int = 12          # iterative Newton: j = 0 .. newton_steps
    gd_max_log2: int = 12           # gradient descent: 1, 2, 4, ..., 2^gd_max_log2 steps
    match_from_k: int = -1          # compare at positions k >= this (-1: k >= d, where least
                                    # squares is exact and every method converges to y)
    seed: int = 0
    progress: bool = True

    @classmethod
    def quick(cls):
        return cls(dim=2, n_points=6, d_model=32, n_layer=4, n_head=4, batch_size=128, steps=800,
                   lr=3e-3, warmup_steps=50, n_probe=1500, n_eval=800, newton_steps=8,
                   gd_max_log2=10, progress=False)

    def __post_init__(self):
        if self.n_layer < 2:
            raise ValueError(f"{NAME}: n_layer must be >= 2 to compare layers, got {self.n_layer}")
        if self.n_points < self.dim + 2:
            raise ValueError(f"{NAME}: n_points must be >= dim + 2 = {self.dim + 2}, got "
                             f"{self.n_points}")
        if not -1 <= self.match_from_k < self.n_points:
            raise ValueError(f"{NAME}: match_from_k must be -1 or in [0, {self.n_points - 1}], "
                             f"got {self.match_from_k}")
        if self.newton_steps < 1 or self.gd_max_log2 < 1:
            raise ValueError(f"{NAME}: newton_steps and gd_max_log2 must be >= 1, got "
                             f"{self.newton_steps}, {self.gd_max_log2}")


def build_model(cfg: Config) -> ICLRegressor:
    return ICLRegressor(ICLConfig(dim=cfg.dim, n_points=cfg.n_points, d_model=cfg.d_model,
                                  n_layer=cfg.n_layer, n_head=cfg.n_head), seed=cfg.seed)


def train_model(cfg: Config, out: Path):
    model = build_model(cfg)

    def batch_fn(step, rng):
        p = icl.make_prompts(cfg.batch_size, cfg.n_points, cfg.dim, rng)
        return p.tokens(), p.ys
    tcfg = TrainConfig(steps=cfg.steps, lr=cfg.lr, warmup_steps=cfg.warmup_steps, seed=cfg.seed,
                       log_every=25, progress=cfg.progress, weight_decay=0.0)
    history = train(model, batch_fn, tcfg, out_dir=out, resume=False,
                    loss_fn=lambda m, batch: m.loss(*batch))
    return model, history


def _prompts(cfg, n, tag):
    return icl.make_prompts(n, cfg.n_points, cfg.dim, np.random.default_rng([cfg.seed, 5000, tag]))


def algorithm_paths(cfg: Config, prompts):
    """(Newton (J + 1, B, K), GD (m + 1, B, K), GD step counts): every iterate's prediction
    at every position k (from the k examples before it)."""
    gd_steps = [2 ** i for i in range(cfg.gd_max_log2 + 1)]
    xs, ys = prompts.xs, prompts.ys
    newton = np.stack([baselines.iterative_newton_path(xs[:, :k], ys[:, :k], xs[:, k],
                                                       cfg.newton_steps)
                       for k in range(cfg.n_points)], axis=-1)
    gd = np.stack([baselines.gradient_descent_path(xs[:, :k], ys[:, :k], xs[:, k], gd_steps)
                   for k in range(cfg.n_points)], axis=-1)
    return newton, gd, gd_steps


def error(pred, ys, dim) -> np.ndarray:
    """Squared error / d averaged over prompts and the given positions, one number per
    leading row."""
    return ((np.asarray(pred) - ys) ** 2).mean(axis=(-2, -1)) / dim


def best_match(layer_preds, algo_preds) -> np.ndarray:
    """For every layer, the algorithm row whose predictions are closest in mean squared
    difference; also returns the full (layers, iterates) distance table."""
    dist = ((layer_preds[:, None] - algo_preds[None]) ** 2).mean(axis=(-2, -1))  # (L+1, J+1)
    return dist.argmin(1), dist


def iterations_to_reach(curve, target) -> float:
    """The (log-linearly interpolated) iterate index at which a decreasing error curve first
    falls to ``target``; inf if it never does."""
    curve = np.asarray(curve)
    below = np.nonzero(curve <= target)[0]
    if len(below) == 0:
        return float("inf")
    i = int(below[0])
    if i == 0:
        return 0.0
    lo, hi = np.log(curve[i - 1]), np.log(max(curve[i], 1e-300))
    return float(i - 1 + (lo - np.log(target)) / max(lo - hi, 1e-12))


def compare(cfg: Config, model):
    probe_prompts, eval_prompts = _prompts(cfg, cfg.n_probe, 0), _prompts(cfg, cfg.n_eval, 1)
    probes = LayerProbes(cfg.probe_ridge).fit(hidden_states(model, probe_prompts.tokens()),
                                              probe_prompts.ys)
    layers = probes.predict(hidden_states(model, eval_prompts.tokens()))  # (L+1, B, K)
    newton, gd, gd_steps = algorithm_paths(cfg, eval_prompts)
    ys, d = eval_prompts.ys, cfg.dim
    k0 = d if cfg.match_from_k < 0 else cfg.match_from_k
    layer_err, newton_err, gd_err = (error(a[..., k0:], ys[:, k0:], d)
                                     for a in (layers, newton, gd))
    newton_match, newton_dist = best_match(layers[..., k0:], newton[..., k0:])
    gd_match, gd_dist = best_match(layers[..., k0:], gd[..., k0:])
    ols = np.stack([baselines.least_squares(eval_prompts.xs[:, :k], ys[:, :k],
                                            eval_prompts.xs[:, k]) for k in range(cfg.n_points)], 1)
    with no_grad():
        model_pred = model(eval_prompts.tokens()).data.astype(np.float64)
    by_position = lambda a: (((a - ys) ** 2).mean(1) / d).tolist()  # noqa: E731
    return {
        "positions_compared": list(range(k0, cfg.n_points)),
        "layer_error": layer_err.tolist(),
        "layer_error_by_position": by_position(layers),
        "newton_error_by_position": by_position(newton),
        "gd_error_by_position": by_position(gd),
        "model_error": float(error(model_pred[:, k0:], ys[:, k0:], d)),
        "least_squares_error": float(error(ols[:, k0:], ys[:, k0:], d)),
        "newton_error": newton_err.tolist(),
        "gd_steps": gd_steps,
        "gd_error": gd_err.tolist(),
        "newton_best_match": newton_match.tolist(),
        "gd_best_match_steps": [gd_steps[i] for i in gd_match],
        "newton_distance": newton_dist.tolist(),
        "gd_distance": gd_dist.tolist(),
        "newton_iters_to_reach": [iterations_to_reach(newton_err, e) for e in layer_err],
        "gd_log2_steps_to_reach": [iterations_to_reach(gd_err, e) for e in layer_err],
    }


def run(cfg: Config, out_dir) -> dict:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model, history = train_model(cfg, out / "train")
    result = {"experiment": NAME, "config": asdict(cfg), "parameters": model.num_parameters(),
              "train_seconds": history["time_s"],
              "loss_curve": [[r["step"], r["loss"]] for r in history["log"]],
              **compare(cfg, model)}
    result["seconds"] = time.perf_counter() - t0
    _plot_errors(result, out / "layer_vs_newton_gd.png")
    _plot_similarity(result, out / "layer_match.png")
    write_json(result, out / "result.json")
    return result


def _plot_errors(result, path):
    """Headline plot: error against layer, Newton iteration and log2 GD steps on one axis."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.8, 3.8))
    ax.semilogy(range(len(result["layer_error"])), result["layer_error"], "ko-", lw=2.2,
                label="transformer: probe after layer l")
    ax.semilogy(range(len(result["newton_error"])), result["newton_error"], "s--",
                label="iterative Newton: iteration j")
    ax.semilogy(range(len(result["gd_error"])), result["gd_error"], "^--",
                label="gradient descent: 2^i steps")
    ax.axhline(max(result["model_error"], 1e-12), color="gray", lw=0.8, ls=":",
               label="transformer output")
    ax.set_xlabel("layer l  /  Newton iteration j  /  i = log2(GD steps)")
    ax.set_ylabel(f"squared error / d (mean over k >= {result['positions_compared'][0]})")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def _plot_similarity(result, path):
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.6))
    dist = np.log10(np.maximum(np.asarray(result["newton_distance"]), 1e-12))
    im = axes[0].imshow(dist.T, origin="lower", aspect="auto", cmap="viridis_r")
    axes[0].plot(range(dist.shape[0]), result["newton_best_match"], "r.-")
    axes[0].set_xlabel("layer l")
    axes[0].set_ylabel("Newton iteration j")
    axes[0].set_title("log10 mean (probe - Newton)^2")
    fig.colorbar(im, ax=axes[0])
    layers = range(len(result["layer_error"]))
    axes[1].plot(layers, result["newton_best_match"], "s-", label="best Newton iteration")
    axes[1].plot(layers, np.log2(result["gd_best_match_steps"]), "^-",
                 label="log2 best GD steps")
    axes[1].set_xlabel("layer l")
    axes[1].set_ylabel("matched iterate")
    axes[1].legend(fontsize=8)
    save_figure(fig, path)


def summary_lines(result) -> list:
    fmt = lambda xs: " ".join(f"{x:.3g}" for x in xs)  # noqa: E731
    return [f"probe error / d by layer: {fmt(result['layer_error'])} (model output "
            f"{result['model_error']:.3g}, least squares {result['least_squares_error']:.3g})",
            f"best-matching Newton iteration by layer: {result['newton_best_match']}",
            f"best-matching GD steps by layer: {result['gd_best_match_steps']}",
            f"Newton iterations to reach each layer's error: "
            f"{fmt(result['newton_iters_to_reach'])}",
            f"log2 GD steps to reach each layer's error: {fmt(result['gd_log2_steps_to_reach'])}",
            f"{result['parameters']:,} parameters, trained in {result['train_seconds']:.0f} s"]
