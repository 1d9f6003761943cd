"""An autoregressively trained linear attention layer becomes one step of gradient descent.

Paper: "On Mesa-Optimization in Autoregressively Trained Transformers: Emergence
and Capability" (Zheng et al.).  Sequences x_{t+1} = W x_t with a fresh W every
sequence; one causal linear self-attention layer over e_t = (0, x_t, x_{t-1})
(``minitx.icl.mesa``) is trained to predict x_{t+1} at every t.  The paper proves
(for diagonal unitary W, its diagonal initialisation W^KQ_32 = a_0 I,
W^PV_12 = b_0 I and gradient flow) that the layer converges to
    y_hat_t = (a b / (t - 1)) sum_{i<t} x_{i+1} x_i^T x_t,
one gradient step on the in-context OLS loss 1/2 sum_i ||x_{i+1} - W' x_i||^2 from
W' = 0, and that whether W_hat recovers W depends on the distribution of x_1
(Gaussian x_1: it does not).

Here W is the real form of a diagonal unitary matrix (2 x 2 rotation blocks,
``minitx.tasks.icl.rotation_blocks``) and all 2 x (3d)^2 weights are trained with
Adam on fresh batches (a fast stand-in for gradient flow).  Measured:
  * how far the trained layer's predictions are from the one-step-GD predictor with
    the best-fitting step eta, against an untrained (Gaussian-initialised) layer;
  * the blocks W^KQ_32, W^PV_12: distance from the nearest multiple of I, and their
    product a b against the step that minimises the loss within the GD family;
  * every other weight that reaches the prediction (real data allow one more term,
    W^KQ_23: key x_i, query x_{t-1}, which uses x_{t+1} + x_{t-1} = (W + W^T) x_t);
  * capability: min_c ||c W_hat_t - W|| / ||W|| at growing t for Gaussian and
    unit-modulus starts x_1 (the GD estimate tends to eta W diag(block |x_1|^2 / 2),
    a multiple of W only when every block of x_1 has the same norm);
  * a run from a Gaussian initialisation (no structure put in by hand), reported.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..icl import mesa
from ..io import write_json
from ..optim import Adam
from ..plotting import pyplot, save_figure
from ..tasks import icl
from ..train import step_rng

NAME = "icl-mesa"
SUMMARY = ("one autoregressively trained linear attention layer predicts x_{t+1} with one GD "
           "step on the in-context OLS loss (Zheng et al.)")


@dataclass(frozen=True)
class Config:
    dim: int = 6                   # d (even: rotation blocks)
    seq_len: int = 30              # T used in training
    transition: str = "rotation"   # "rotation" (the paper's diagonal unitary W) or "orthogonal"
    init_a: float = 0.3            # the paper's diagonal initialisation a_0, b_0
    init_b: float = 0.3
    gaussian_init_std: float = 0.1  # the unstructured initialisation (and untrained baseline)
    batch_size: int = 512
    steps: int = 3000
    lr: float = 0.01
    decay_at: float = 0.6          # lr drops 5x from this fraction of steps
    n_eval: int = 2000
    horizons: tuple = (10, 30, 100, 300, 1000)  # t at which W_hat is compared with W
    seed: int = 0

    @classmethod
    def quick(cls):
        return cls(dim=4, seq_len=16, batch_size=128, steps=600, n_eval=500,
                   horizons=(8, 16, 64, 256))

    def __post_init__(self):
        if self.dim < 2 or self.dim % 2:
            raise ValueError(f"{NAME}: dim must be even and >= 2 (rotation blocks), got {self.dim}")
        if self.transition not in icl.AR_TRANSITIONS:
            raise ValueError(f"{NAME}: transition must be one of {icl.AR_TRANSITIONS}, got "
                             f"{self.transition!r}")
        if self.seq_len < 4:
            raise ValueError(f"{NAME}: seq_len must be >= 4, got {self.seq_len}")
        if min(self.horizons) < 2:
            raise ValueError(f"{NAME}: horizons must be >= 2, got {self.horizons}")


def _sequences(cfg, n, rng, start, length=None):
    return icl.ar_sequences(n, length or cfg.seq_len, cfg.dim, rng, transition=cfg.transition,
                            start=start)


def train_layer(cfg: Config, init, start: str, seed: int):
    """Adam on the autoregressive loss from ``init`` = (W^KQ, W^PV); returns (model, losses)."""
    model = mesa.CausalLinearAttention(cfg.dim, *init)
    opt = Adam(model.parameters(), lr=cfg.lr)
    losses = []
    for step in range(cfg.steps):
        xs, _ = _sequences(cfg, cfg.batch_size, step_rng(seed, step), start)
        loss = mesa.ar_loss(model, icl.mesa_embedding(xs), xs)
        opt.zero_grad()
        loss.backward()
        opt.param_groups[0]["lr"] = cfg.lr * (0.2 if step >= cfg.decay_at * cfg.steps else 1.0)
        opt.step()
        losses.append(float(loss.item()))
    return model, losses


def identity_deviation(block) -> tuple:
    """(c, ||block - c I||_F / ||block||_F) with c = tr(block) / d, the nearest multiple of I."""
    c = float(np.trace(block) / len(block))
    return c, float(np.linalg.norm(block - c * np.eye(len(block))) / np.linalg.norm(block))


def other_weights_norm(model) -> dict:
    """Frobenius norms of the weights that reach y_hat besides the two GD blocks (the zero
    block of e_t and the rows of W^PV below d never do), and their total relative to the
    GD blocks' norm."""
    d = model.dim
    kq, pv = model.w_kq.data, model.w_pv.data
    parts = {"pv_13": pv[:d, 2 * d:], "kq_22": kq[d:2 * d, d:2 * d],
             "kq_23": kq[d:2 * d, 2 * d:], "kq_33": kq[2 * d:, 2 * d:]}
    norms = {k: float(np.linalg.norm(v)) for k, v in parts.items()}
    gd_blocks = np.hypot(*(np.linalg.norm(b) for b in model.blocks()))
    norms["relative_total"] = float(np.sqrt(sum(n * n for n in norms.values())) / gd_blocks)
    return norms


def gd_match(model, xs) -> dict:
    """Trained predictions vs the one-step-GD predictor with the least-squares eta."""
    pred = model(icl.mesa_embedding(xs)).data
    eta = mesa.fit_eta(pred, xs)
    gap = pred[:, :, 1:] - mesa.gd_predict(xs, eta)[:, :, 1:]
    return {"eta": eta, "rel_gap": float((gap ** 2).sum() / (pred[:, :, 1:] ** 2).sum()),
            "loss": float(mesa.ar_loss(model, icl.mesa_embedding(xs), xs).item())}


def recovery(cfg, eta, start, rng) -> list:
    """Per horizon t: mean over sequences of min_c ||c W_hat_t - W||_F / ||W||_F and of
    ||eta G_t - W||_F / ||W||_F (G_t = (1/(t-1)) sum_{i<t} x_{i+1} x_i^T)."""
    xs, W = _sequences(cfg, cfg.n_eval // 4, rng, start, length=max(cfg.horizons) + 1)
    G = mesa.gd_estimates(xs)  # (B, T, d, d)
    rows, norm = [], np.linalg.norm(W, axis=(1, 2))
    for t in cfg.horizons:
        g = G[:, t - 1]  # uses the pairs before x_t
        c = np.einsum("bij,bij->b", g, W) / np.maximum(np.einsum("bij,bij->b", g, g), 1e-12)
        rows.append({"t": t,
                     "scale_free_error": float(np.mean(np.linalg.norm(
                         c[:, None, None] * g - W, axis=(1, 2)) / norm)),
                     "error": float(np.mean(np.linalg.norm(eta * g - W, axis=(1, 2)) / norm))})
    return rows


def _report(cfg, model, losses, start, tag):
    xs, _ = _sequences(cfg, cfg.n_eval, np.random.default_rng([cfg.seed, 900, tag]), start)
    kq, pv = model.blocks()
    (a, kq_dev), (b, pv_dev) = identity_deviation(kq), identity_deviation(pv)
    best = mesa.best_eta(xs)
    gd_loss = 0.5 * ((mesa.gd_predict(xs, best)[:, :, :-1] - xs[:, 1:].transpose(0, 2, 1)) ** 2
                     ).sum(1).mean()
    match = gd_match(model, xs)
    return {"start": start, **match, "kq_32": kq.tolist(), "pv_12": pv.tolist(),
            "a": a, "b": b, "ab": a * b, "kq_identity_deviation": kq_dev,
            "pv_identity_deviation": pv_dev, "best_eta": best, "gd_family_loss": float(gd_loss),
            "other_weights": other_weights_norm(model), "loss_curve": losses[::10],
            "recovery": recovery(cfg, match["eta"], start,
                                 np.random.default_rng([cfg.seed, 901, tag])),
            "w_kq": model.w_kq.data.tolist(), "w_pv": model.w_pv.data.tolist()}


def run(cfg: Config, out_dir) -> dict:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    diag = mesa.diagonal_init(cfg.dim, cfg.init_a, cfg.init_b)
    runs = {}
    for tag, start in enumerate(("gaussian", "unit_modulus")):
        model, losses = train_layer(cfg, diag, start, cfg.seed + tag)
        runs[f"diagonal_init/{start}"] = _report(cfg, model, losses, start, tag)
    gauss = mesa.gaussian_init(cfg.dim, cfg.gaussian_init_std, np.random.default_rng(cfg.seed))
    untrained = mesa.CausalLinearAttention(cfg.dim, *gauss)
    model, losses = train_layer(cfg, gauss, "gaussian", cfg.seed + 7)
    runs["gaussian_init/gaussian"] = _report(cfg, model, losses, "gaussian", 0)
    xs, _ = _sequences(cfg, cfg.n_eval, np.random.default_rng([cfg.seed, 900, 0]), "gaussian")
    result = {"experiment": NAME, "config": asdict(cfg), "runs": runs,
              "untrained": gd_match(untrained, xs), "seconds": time.perf_counter() - t0}
    _plot_predictions(cfg, runs["diagonal_init/gaussian"], untrained, out / "mesa_vs_gd.png")
    _plot_weights(runs, out / "weights.png")
    _plot_recovery(runs, out / "recovery.png")
    write_json(result, out / "result.json")
    return result


def _plot_predictions(cfg, report, untrained, path):
    """Scatter of trained (and untrained) predictions against the fitted one-step-GD predictor."""
    plt = pyplot()
    xs, _ = _sequences(cfg, 200, np.random.default_rng([cfg.seed, 902]), report["start"])
    model = mesa.CausalLinearAttention(cfg.dim, report["w_kq"], report["w_pv"])
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.6))
    for ax, (name, m) in zip(axes, (("trained", model), ("untrained", untrained))):
        pred = m(icl.mesa_embedding(xs)).data[:, :, 1:]
        gd = mesa.gd_predict(xs, mesa.fit_eta(m(icl.mesa_embedding(xs)).data, xs))[:, :, 1:]
        ax.plot(gd.ravel(), pred.ravel(), ".", ms=1.5, alpha=0.4)
        lim = np.abs(gd).max()
        ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.8)
        ax.set_xlabel("one GD step, fitted eta")
        ax.set_ylabel(f"{name} layer")
        ax.set_title(f"{name}: relative gap {((pred - gd) ** 2).sum() / (pred ** 2).sum():.3f}")
    save_figure(fig, path)


def _plot_weights(runs, path):
    plt = pyplot()
    fig, axes = plt.subplots(len(runs), 2, figsize=(7.0, 3.2 * len(runs)))
    for row, (name, rep) in zip(np.atleast_2d(axes), runs.items()):
        for ax, key in zip(row, ("w_kq", "w_pv")):
            w = np.asarray(rep[key])
            lim = np.abs(w).max()
            im = ax.imshow(w, cmap="RdBu_r", vmin=-lim, vmax=lim)
            d = len(w) // 3
            for edge in (d - 0.5, 2 * d - 0.5):
                ax.axhline(edge, color="k", lw=0.5)
                ax.axvline(edge, color="k", lw=0.5)
            ax.set_title(f"{name}: {'W^KQ' if key == 'w_kq' else 'W^PV'}", fontsize=8)
            fig.colorbar(im, ax=ax, fraction=0.046)
    save_figure(fig, path)


def _plot_recovery(runs, path):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    for name, rep in runs.items():
        if name.startswith("diagonal_init"):
            ts = [r["t"] for r in rep["recovery"]]
            ax.loglog(ts, [r["scale_free_error"] for r in rep["recovery"]], "o-",
                      label=f"x_1 {rep['start']}")
    ax.set_xlabel("context length t")
    ax.set_ylabel(r"min$_c$ $\|c\hat W_t - W\|_F / \|W\|_F$")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def summary_lines(result) -> list:
    lines = []
    for name, r in result["runs"].items():
        lines.append(f"{name}: gap to one GD step {r['rel_gap']:.3f} (eta {r['eta']:.3f}); "
                     f"W^KQ_32 = {r['a']:.3f} I (dev {r['kq_identity_deviation']:.3f}), "
                     f"W^PV_12 = {r['b']:.3f} I (dev {r['pv_identity_deviation']:.3f}); "
                     f"ab {r['ab']:.3f} vs best eta {r['best_eta']:.3f}; loss {r['loss']:.4f} vs "
                     f"GD family {r['gd_family_loss']:.4f}; |W^KQ_23| "
                     f"{r['other_weights']['kq_23']:.3f}; recovery error at t = "
                     f"{r['recovery'][-1]['t']}: {r['recovery'][-1]['scale_free_error']:.3f}")
    lines.append(f"untrained layer: gap to one GD step {result['untrained']['rel_gap']:.3f}")
    return lines
