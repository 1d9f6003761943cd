"""Small sequence models learn Boolean functions in context; parities defeat them.

Paper: "Understanding In-Context Learning in Transformers and LLMs by Learning to
Learn Discrete Functions" (Bhattamishra, Patel, Blunsom, Kanade).  Every prompt
x_1, f(x_1), ..., x_K holds a fresh function f of one class (``minitx.tasks.boolean``:
conjunctions, disjunctions, decision lists, sparse and full parities, majorities);
a model trained on many such prompts predicts f(x_{k+1}) from k examples.  The
paper's findings, which this experiment checks at laptop size:

  * on "simple" classes (conjunctions, disjunctions, decision lists) a trained
    Transformer nearly matches the classical learner (elimination, Rivest's greedy
    list learner) as a function of the number of in-context examples;
  * on parities of all n variables it stays near chance, although Gaussian
    elimination over GF(2) identifies the function from about n examples;
  * attention-free models (here every mixer in ``Config.mixers``) match it on some
    classes and lag on others.

One model per (class, mixer), all with the same size, steps and data.  The figure
is the paper's headline plot: accuracy against the number of in-context examples,
one panel per class, the trained models against the baselines of
``minitx.icl.boolean_learners``.

What the default run measures (n = 6, K = 24, 1000 steps; accuracy for k >= 12): on
conjunctions, disjunctions and decision lists the transformer and Mamba come within
0.02-0.06 of the classical learner, well above nearest neighbour; the attention-RNN
(one learned query per head) stays at the majority-label level on conjunctions; on
parities every model is at chance on new queries while GF(2) elimination is exact.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..autograd.function import no_grad
from ..icl import boolean_learners as learners
from ..icl.classifier import ClassifierConfig, ICLClassifier, check_mixers
from ..io import write_json
from ..plotting import pyplot, save_figure
from ..tasks import boolean
from ..train import TrainConfig, train

NAME = "icl-boolean"
SUMMARY = ("transformers learn conjunctions in context near the optimal learner but not "
           "parities; attention-free mixers compared (Bhattamishra et al.)")


@dataclass(frozen=True)
class Config:
    n_dims: int = 6                  # n: x in {0,1}^n
    n_points: int = 24               # K: the model predicts with k = 0 .. K-1 examples
    classes: tuple = ("conjunction", "disjunction", "decision_list", "parity")
    mixers: tuple = ("softmax", "attention-rnn", "mamba")
    d_model: int = 48
    n_layer: int = 2
    n_head: int = 2
    batch_size: int = 64
    steps: int = 1000
    lr: float = 3e-3
    warmup_steps: int = 50
    positive_rate: float = 0.3       # share of points forced to f = 1 (conj.) / f = 0 (disj.)
    sparsity: int = 2                # variables of a sparse parity
    list_length: int = 3             # rules of a decision list
    n_eval: int = 1000               # held-out prompts per class
    eval_every: int = 200            # learning curve: mean accuracy on 256 prompts
    seed: int = 0
    progress: bool = True

    @classmethod
    def quick(cls):
        return cls(n_dims=5, n_points=16, classes=("conjunction", "parity"), mixers=("softmax",),
                   d_model=32, steps=700, lr=5e-3, n_eval=500, eval_every=350)

    def __post_init__(self):
        for name in self.classes:
            boolean.check_class(name)
        if not self.classes:
            raise ValueError(f"{NAME}: classes must name at least one of {boolean.CLASSES}")
        check_mixers(self.mixers, NAME)
        if self.n_points < 2 or self.n_dims < 1:
            raise ValueError(f"{NAME}: need n_points >= 2 and n_dims >= 1, got {self.n_points}, "
                             f"{self.n_dims}")
        if not 0.0 <= self.positive_rate <= 1.0:
            raise ValueError(f"{NAME}: positive_rate must be in [0, 1], got {self.positive_rate}")


def _options(cfg, kind):
    return {"sparsity": cfg.sparsity} if kind == "sparse_parity" else \
        {"list_length": cfg.list_length} if kind == "decision_list" else {}


def make_prompts(cfg: Config, kind: str, batch: int, rng) -> boolean.BooleanPrompts:
    return boolean.make_prompts(kind, batch, cfg.n_points, cfg.n_dims, rng,
                                positive_rate=cfg.positive_rate, **_options(cfg, kind))


def build_model(cfg: Config, mixer: str) -> ICLClassifier:
    return ICLClassifier(ClassifierConfig(n_dims=cfg.n_dims, n_points=cfg.n_points,
                                          d_model=cfg.d_model, n_layer=cfg.n_layer,
                                          n_head=cfg.n_head, mixer=mixer), seed=cfg.seed)


def model_predictions(model, prompts) -> np.ndarray:
    with no_grad():
        return model.predict(prompts.tokens())


def baseline_predictions(cfg: Config, kind: str, prompts) -> dict:
    """{name: predictions (B', K)} of the majority label, nearest neighbour and the class's
    classical learner (Rivest's greedy learner runs on the first 400 prompts: it is slow)."""
    xs, ys = prompts.xs, prompts.ys
    out = {"majority label": learners.majority_label(xs, ys),
           "nearest neighbour": learners.nearest_neighbour(xs, ys)}
    if kind in learners.OPTIMAL:
        name, fn = learners.OPTIMAL[kind]
        if kind == "sparse_parity":
            out[name] = fn(xs, ys, sparsity=cfg.sparsity)
        elif kind == "decision_list":
            out[name] = fn(xs[:400], ys[:400])
        else:
            out[name] = fn(xs, ys)
    return out


def summarise(pred, prompts, half) -> dict:
    """Accuracy curve over k, its mean, its mean for k >= half, and the accuracy for
    k >= half on queries that did not occur earlier in the prompt."""
    n = len(pred)
    curve = learners.accuracy_curve(pred, prompts.ys[:n])
    return {"curve": curve.tolist(), "mean": float(curve.mean()),
            "late": float(curve[half:].mean()),
            "late_novel": learners.novel_accuracy(pred, prompts.ys[:n], prompts.xs[:n], half)}


def _train_one(cfg, kind, mixer, out):
    model = build_model(cfg, mixer)
    monitor = make_prompts(cfg, kind, 256, np.random.default_rng([cfg.seed, 20_000]))

    def batch_fn(step, rng):
        p = make_prompts(cfg, kind, cfg.batch_size, rng)
        return p.tokens(), p.ys

    def eval_fn(m, step):
        return {"accuracy": float(np.mean(model_predictions(m, monitor) == monitor.ys))}
    tcfg = TrainConfig(steps=cfg.steps, lr=cfg.lr,
                       warmup_steps=min(cfg.warmup_steps, cfg.steps // 4), seed=cfg.seed, eval_every=cfg.eval_every, log_every=25,
                       progress=cfg.progress, weight_decay=0.0)
    history = train(model, batch_fn, tcfg, out_dir=out, loss_fn=lambda m, b: m.loss(*b),
                    eval_fn=eval_fn, resume=False)
    return model, history


def run(cfg: Config, out_dir) -> dict:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = {"experiment": NAME, "config": asdict(cfg), "k": list(range(cfg.n_points)),
              "classes": {}, "train_seconds": 0.0}
    half = cfg.n_points // 2
    for c_index, kind in enumerate(cfg.classes):
        prompts = make_prompts(cfg, kind, cfg.n_eval, np.random.default_rng([cfg.seed, 10_000,
                                                                             c_index]))
        block = {"baselines": {name: summarise(pred, prompts, half) for name, pred in
                               baseline_predictions(cfg, kind, prompts).items()},
                 "models": {}, "learning_curves": {}, "loss_curves": {}}
        for mixer in cfg.mixers:
            model, history = _train_one(cfg, kind, mixer, out / "train" / f"{kind}-{mixer}")
            block["models"][mixer] = summarise(model_predictions(model, prompts), prompts, half)
            block["learning_curves"][mixer] = [[e["step"], e["accuracy"]] for e in history["eval"]]
            block["loss_curves"][mixer] = [[r["step"], r["loss"]] for r in history["log"]]
            block.setdefault("parameters", {})[mixer] = model.num_parameters()
            result["train_seconds"] += history["time_s"]
        result["classes"][kind] = block
    result["late_from_k"] = half
    _plot_accuracy(result, out / "accuracy_vs_k.png")
    _plot_learning(result, out / "learning_curves.png")
    write_json(result, out / "result.json")
    return result


# ----- figures -------------------------------------------------------------------
def _panels(n):
    plt = pyplot()
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, axes.flat


def _plot_accuracy(result, path):
    """The paper's headline plot: accuracy against in-context examples, per class."""
    fig, axes = _panels(len(result["classes"]))
    for ax, (kind, block) in zip(axes, result["classes"].items()):
        for name, scores in block["baselines"].items():
            ax.plot(result["k"][:len(scores["curve"])], scores["curve"], ls="--", lw=1.2,
                    label=name)
        for name, scores in block["models"].items():
            ax.plot(result["k"], scores["curve"], lw=2.2, label=f"trained: {name}")
        ax.axhline(0.5, color="gray", lw=0.6)
        ax.set_ylim(0.3, 1.02)
        ax.set_title(kind.replace("_", " "))
        ax.set_xlabel("in-context examples k")
        ax.set_ylabel("accuracy")
        ax.legend(fontsize=6, loc="lower right")
    save_figure(fig, path)


def _plot_learning(result, path):
    fig, axes = _panels(len(result["classes"]))
    for ax, (kind, block) in zip(axes, result["classes"].items()):
        for name, curve in block["loss_curves"].items():
            steps, losses = zip(*curve)
            ax.plot(steps, losses, label=name)
        ax.axhline(np.log(2), color="gray", ls="--", lw=0.8, label="chance (log 2)")
        ax.set_title(kind.replace("_", " "))
        ax.set_xlabel("step")
        ax.set_ylabel("training cross-entropy")
        ax.legend(fontsize=7, loc="upper right")
    save_figure(fig, path)


def summary_lines(result) -> list:
    half = result["late_from_k"]
    lines = [f"accuracy for k >= {half} in-context examples [on novel queries only] "
             "(mean over all k in brackets):"]
    for kind, block in result["classes"].items():
        scores = {**block["models"], **block["baselines"]}
        cells = ", ".join(f"{name} {v['late']:.3f} [{v['late_novel']:.3f}] ({v['mean']:.3f})"
                          for name, v in scores.items())
        lines.append(f"  {kind}: {cells}")
    lines.append(f"trained {sum(len(b['models']) for b in result['classes'].values())} models in "
                 f"{result['train_seconds']:.0f} s")
    return lines
