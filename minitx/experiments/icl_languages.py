"""In-context language learning: which sequence models infer a random regular language?

Paper: "In-Context Language Learning: Architectures and Algorithms" (Akyurek, Wang,
Kim, Andreas).  Every prompt holds strings from a fresh random automaton
(``minitx.tasks.regular_languages``), so a model can only predict the next symbol by
learning the language from the prompt itself.  The paper's findings, checked here at
laptop size:

  * Transformers beat recurrent and state-space models trained with the same budget;
  * their predictions track in-context n-gram statistics (they compute them with
    "n-gram heads"), so the in-context bigram / trigram models of ``minitx.icl.ngram``
    are the yardstick: a model is scored by how often its most likely symbol is
    allowed by the automaton (accuracy) and by the total variation distance (TVD) of
    its next-symbol distribution to the language's;
  * ``ngram_features`` adds hard-wired in-context n-gram statistics to the input
    (``minitx.icl.ngram.NGramLM``), the paper's "n-gram heads" for weaker models.

One GPT per mixer in ``Config.mixers`` (same size, steps, data).  Figures: the scores
against training steps per architecture with the n-gram baselines as lines, and
against the number of strings already in the prompt.

What the default run measures (2000 steps, d_model 48, 2 layers): the transformer
(softmax attention, learned absolute positions) rises above the in-context unigram but
has not yet formed n-gram heads, while Mamba, whose short causal convolution hands each
token its predecessors, reaches the bigram level; with hard-wired n-gram heads both
reach the trigram level.  So the first claim (the architecture ranking) is not
reproduced at this budget; the n-gram claims are.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..autograd.function import no_grad
from ..icl.classifier import check_mixers
from ..icl.ngram import NGramLM, in_context_ngram
from ..io import write_json
from ..models import GPT, GPTConfig
from ..plotting import pyplot, save_figure
from ..tasks import regular_languages as rl
from ..train import TrainConfig, train

NAME = "icl-languages"
SUMMARY = ("sequence models learn random regular languages in context, against in-context "
           "n-gram models; hard-wired n-gram heads close the gap (Akyurek et al., RegBench)")


@dataclass(frozen=True)
class Config:
    n_symbols: int = 6               # alphabet size (the vocabulary adds one delimiter)
    n_states: int = 3
    max_out: int = 2                 # symbols allowed per state: uniform in [1, max_out]
    min_len: int = 2                 # string length, uniform in [min_len, max_len]
    max_len: int = 8
    length: int = 64                 # tokens a model reads per prompt
    mixers: tuple = ("softmax", "attention-rnn", "mamba")
    ngram_features: tuple = ("softmax", "mamba")  # also trained with hard-wired n-gram heads
    ngram_orders: tuple = (1, 2, 3)  # baselines: in-context unigram, bigram, trigram
    smoothing: float = 0.1           # add-alpha of the n-gram baselines
    d_model: int = 48
    n_layer: int = 2
    n_head: int = 2
    batch_size: int = 32
    steps: int = 2000
    lr: float = 5e-3
    warmup_steps: int = 50
    n_eval: int = 300                # held-out prompts (fresh automata)
    eval_every: int = 250
    n_strings: int = 10              # strings counted in the by-string figure
    seed: int = 0
    progress: bool = True

    @classmethod
    def quick(cls):
        return cls(mixers=("softmax",), ngram_features=("softmax",), d_model=32, steps=600,
                   n_eval=200, eval_every=200)

    def __post_init__(self):
        check_mixers(self.mixers, NAME)
        if self.ngram_features:
            check_mixers(self.ngram_features, NAME)
        if not 1 <= self.max_out <= self.n_symbols:
            raise ValueError(f"{NAME}: max_out must be in [1, n_symbols={self.n_symbols}], got "
                             f"{self.max_out}")
        if not 1 <= self.min_len <= self.max_len:
            raise ValueError(f"{NAME}: need 1 <= min_len <= max_len, got {self.min_len}, "
                             f"{self.max_len}")
        if any(n < 1 for n in self.ngram_orders):
            raise ValueError(f"{NAME}: ngram_orders must be >= 1, got {self.ngram_orders}")


def make_prompts(cfg: Config, batch: int, rng) -> rl.LanguagePrompts:
    return rl.make_prompts(batch, cfg.length, rng, n_states=cfg.n_states, n_symbols=cfg.n_symbols,
                           max_out=cfg.max_out, min_len=cfg.min_len, max_len=cfg.max_len)


def build_model(cfg: Config, mixer: str, ngram: bool = False):
    gcfg = GPTConfig(vocab_size=cfg.n_symbols + 1, block_size=cfg.length, n_layer=cfg.n_layer,
                     n_head=cfg.n_head, d_model=cfg.d_model, mixer=mixer)
    return NGramLM(gcfg, orders=(2, 3), seed=cfg.seed) if ngram else GPT(gcfg, seed=cfg.seed)


def next_token_probs(model, inputs) -> np.ndarray:
    with no_grad():
        logits = model(inputs).data.astype(np.float64)  # (B, T, V)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    return p / p.sum(-1, keepdims=True)


def evaluate(cfg, probs, prompts) -> dict:
    s = rl.scores(probs, prompts)
    return {"accuracy": float(s["accuracy"].mean()), "tvd": float(s["tvd"].mean()),
            "accuracy_by_string": rl.by_string(s["accuracy"], prompts, cfg.n_strings),
            "tvd_by_string": rl.by_string(s["tvd"], prompts, cfg.n_strings)}


def ngram_baselines(cfg, prompts) -> dict:
    inputs, _ = prompts.inputs_targets()
    return {f"{n}-gram": in_context_ngram(inputs, n, prompts.vocab_size, cfg.smoothing)
            for n in cfg.ngram_orders}


def _train_one(cfg, model, out, monitor):
    """Train on fresh automata every step; the learning curve is scored on ``monitor``."""

    def batch_fn(step, rng):
        return make_prompts(cfg, cfg.batch_size, rng).inputs_targets()

    def eval_fn(m, step):
        s = rl.scores(next_token_probs(m, monitor.inputs_targets()[0]), monitor)
        return {"accuracy": float(s["accuracy"].mean()), "tvd": float(s["tvd"].mean())}
    tcfg = TrainConfig(steps=cfg.steps, lr=cfg.lr,
                       warmup_steps=min(cfg.warmup_steps, cfg.steps // 4), seed=cfg.seed, eval_every=cfg.eval_every, log_every=25,
                       progress=cfg.progress, weight_decay=0.0)
    return train(model, batch_fn, tcfg, out_dir=out, eval_fn=eval_fn, resume=False)


def _distance(p, q, n_symbols):
    """Mean total variation between two next-symbol distributions (delimiter dropped)."""
    return float(0.5 * np.abs(rl.symbol_distribution(p, n_symbols)
                              - rl.symbol_distribution(q, n_symbols)).sum(-1).mean())


def run(cfg: Config, out_dir) -> dict:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prompts = make_prompts(cfg, cfg.n_eval, np.random.default_rng([cfg.seed, 10_000]))
    inputs, _ = prompts.inputs_targets()
    grams = ngram_baselines(cfg, prompts)
    result = {"experiment": NAME, "config": asdict(cfg),
              "baselines": {name: evaluate(cfg, p, prompts) for name, p in grams.items()},
              "models": {}, "train_seconds": 0.0}
    runs = [(m, False) for m in cfg.mixers] + [(m, True) for m in cfg.ngram_features]
    for mixer, ngram in runs:
        label = f"{mixer} + n-gram features" if ngram else mixer
        model = build_model(cfg, mixer, ngram)
        history = _train_one(cfg, model, out / "train" / label.replace(" ", "_"), prompts)
        probs = next_token_probs(model, inputs)
        result["models"][label] = {
            **evaluate(cfg, probs, prompts), "parameters": model.num_parameters(),
            "tvd_to_ngram": {name: _distance(probs, p, cfg.n_symbols) for name, p in grams.items()},
            "learning_curve": history["eval"],
            "loss_curve": [[r["step"], r["loss"]] for r in history["log"]]}
        result["train_seconds"] += history["time_s"]
    _plot_steps(result, out / "scores_vs_steps.png")
    _plot_strings(result, out / "accuracy_vs_strings.png")
    write_json(result, out / "result.json")
    return result


# ----- figures -------------------------------------------------------------------
def _plot_steps(result, path):
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    for ax, key in zip(axes, ("accuracy", "tvd")):
        for name, m in result["models"].items():
            ax.plot([e["step"] for e in m["learning_curve"]], [e[key] for e in m["learning_curve"]],
                    marker="o", ms=3, lw=2, label=name)
        for i, (name, b) in enumerate(result["baselines"].items()):
            ax.axhline(b[key], ls="--", lw=1, color=f"C{i + 5}", label=f"in-context {name}")
        ax.set_xlabel("training step")
        ax.set_ylabel({"accuracy": "next symbol allowed (accuracy)",
                       "tvd": "TVD to the language"}[key])
    axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    save_figure(fig, path)


def _plot_strings(result, path):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for name, m in result["models"].items():
        ax.plot(m["accuracy_by_string"], marker="o", ms=3, lw=2, label=name)
    for name, b in result["baselines"].items():
        ax.plot(b["accuracy_by_string"], ls="--", lw=1, label=f"in-context {name}")
    ax.set_xlabel("strings already in the prompt")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    save_figure(fig, path)


def summary_lines(result) -> list:
    lines = ["accuracy (most likely next symbol allowed) / TVD to the language, held-out automata:"]
    for name, s in {**result["models"], **result["baselines"]}.items():
        extra = ""
        if "tvd_to_ngram" in s:
            extra = "; TVD to " + ", ".join(f"{k} {v:.3f}" for k, v in s["tvd_to_ngram"].items())
        lines.append(f"  {name:28s} {s['accuracy']:.3f} / {s['tvd']:.3f}{extra}")
    lines.append(f"trained {len(result['models'])} models in {result['train_seconds']:.0f} s")
    return lines
