"""How the answer is written decides how many examples a small GPT needs to learn addition.

Paper: "Teaching Arithmetic to Small Transformers" (Lee et al., ICLR 2024), Figure 1 /
Section 4-5: for 3-digit addition, writing the answer least significant digit first
("reverse") or with a scratchpad of per-column results needs far fewer training
examples than the plain answer; plain accuracy rises with data in a sharp transition.
Section 9: a model trained on up to n digits does not add n + 1 digits.

For every format and every training-set size, one character-level GPT is trained on
that many distinct carry- and length-balanced examples (``minitx.tasks.arithmetic``),
for the same number of steps, on the completion's characters only; it is tested by
greedy decoding on held-out pairs (none seen in training). The models trained on the
largest set are also asked to add n + 1 digit numbers (learned positions past the
training lengths included). Cost: formats x sizes x steps training steps; a step is
O(batch * T^2) attention with T ~ 15 (plain) to ~ 60 (detailed scratchpad).

Measured (default size, seed 0; 13.6 min wall on 2 cores shared with another run), exact
match on held-out sums after 250 / 500 / 1000 / 2000 / 4000 training examples:
    plain                 2 /  4 /  8 /  8 /  31%
    reverse               2 /  6 / 34 / 39 /  45%
    simplified scratchpad 6 /  8 / 37 / 64 /  63%
    detailed scratchpad  30 / 72 / 86 / 97 / 100%
the paper's ordering; one digit longer than trained: 0% for every format, as Section 9 says.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..io import write_json
from ..plotting import pyplot, save_figure
from ..tasks import arithmetic as ar
from . import _seq2seq as s2s

NAME = "arithmetic-formats"
SUMMARY = ("addition accuracy vs number of training examples for plain, reversed and "
           "scratchpad answers (Lee et al., Teaching Arithmetic to Small Transformers)")


@dataclass(frozen=True)
class Config:
    n_digits: int = 3
    op: str = "+"
    formats: tuple = ar.FORMATS
    train_sizes: tuple = (250, 500, 1000, 2000, 4000)
    n_test: int = 500
    n_length_test: int = 300        # (n + 1)-digit pairs for the length-generalisation test
    steps: int = 1000
    batch_size: int = 64
    d_model: int = 64
    n_layer: int = 2
    n_head: int = 4
    lr: float = 3e-3
    seed: int = 0
    progress: bool = False

    @classmethod
    def quick(cls):
        # 2-digit addition, 250 examples, 400 steps: both formats overfit (~10% exact), but the
        # reversed model writes the units digit first and gets it right ~2x as often as plain
        return cls(n_digits=2, formats=("plain", "reverse"), train_sizes=(250,), n_test=300,
                   n_length_test=100, steps=400)

    def __post_init__(self):
        for fmt in self.formats:
            if fmt not in ar.FORMATS:
                raise ValueError(f"{NAME}: unknown format {fmt!r} "
                                 f"(accepted: {', '.join(ar.FORMATS)})")
        if self.op not in ar.OPS:
            raise ValueError(f"{NAME}: op must be '+' or '-', got {self.op!r}")
        if not self.train_sizes or min(self.train_sizes) < 1:
            raise ValueError(f"{NAME}: train_sizes must be positive, got {self.train_sizes}")


def _evaluate(model, pairs, cfg, fmt, width):
    prompts, completions = ar.texts(pairs, cfg.op, fmt)
    longest = max(len(c) for c in completions)
    out = s2s.greedy_complete(model, ar.TOKENIZER, prompts, longest + 2)
    predicted = [ar.parse_answer(text, fmt) for text in out]
    truth = ar.apply_op(pairs[:, 0], pairs[:, 1], cfg.op)
    exact, per_place = ar.score(predicted, truth, width)
    hits = np.array([p == t for p, t in zip(predicted, truth)])
    return exact, per_place, hits


def _train_one(cfg, fmt, pairs, block_size):
    prompts, completions = ar.texts(pairs, cfg.op, fmt)
    ids, targets = s2s.lm_arrays(ar.TOKENIZER, prompts, completions)
    model = s2s.build_gpt(ar.TOKENIZER, block_size, cfg.d_model, cfg.n_layer, cfg.n_head, cfg.seed)
    history = s2s.fit(model, s2s.batch_sampler(ids, targets, cfg.batch_size), cfg.steps, cfg.lr,
                      cfg.seed, progress=cfg.progress)
    return model, history


def run(cfg: Config, out_dir) -> dict:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    train, test = ar.split(max(cfg.train_sizes), cfg.n_test, cfg.n_digits, rng, cfg.op)
    longer = ar.sample_pairs(cfg.n_length_test, cfg.n_digits + 1, rng, cfg.op,
                             exact_digits=cfg.n_digits + 1)
    block = max(s2s.longest(*ar.texts(longer, cfg.op, fmt)) for fmt in cfg.formats) + 2
    carries = ar.count_carries(test[:, 0], test[:, 1], cfg.op)
    sweep, length_gen, by_carries, seconds = {}, {}, {}, 0.0
    for fmt in cfg.formats:
        sweep[fmt] = []
        for size in sorted(cfg.train_sizes):
            model, history = _train_one(cfg, fmt, train[:size], block)
            seconds += history["time_s"]
            exact, per_place, hits = _evaluate(model, test, cfg, fmt, cfg.n_digits + 1)
            sweep[fmt].append({"n_train": size, "exact_match": exact,
                               "per_place": per_place.tolist(),
                               "final_loss": history["log"][-1]["loss"]})
        by_carries[fmt] = [float(hits[carries == c].mean()) if np.any(carries == c) else None
                           for c in range(cfg.n_digits + 1)]
        exact_long, per_place_long, _ = _evaluate(model, longer, cfg, fmt, cfg.n_digits + 2)
        length_gen[fmt] = {"trained_digits": exact, "longer_digits": exact_long,
                           "longer_per_place": per_place_long.tolist()}
    result = {"experiment": NAME, "config": asdict(cfg), "sweep": sweep,
              "length_generalisation": length_gen, "accuracy_by_carries": by_carries,
              "train_seconds": seconds,
              "example": {fmt: "".join(ar.format_example(367, 128, cfg.op, fmt))
                          for fmt in cfg.formats}}
    _plot(result, cfg, out / "accuracy_vs_samples.png")
    write_json(result, out / "result.json")
    return result


def _plot(result, cfg, path):
    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.6))
    for fmt, rows in result["sweep"].items():
        ax.plot([r["n_train"] for r in rows], [r["exact_match"] for r in rows], "o-", label=fmt)
    ax.set_xscale("log")
    ax.set_xlabel("number of training examples")
    ax.set_ylabel("test exact match")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{cfg.n_digits}-digit {'addition' if cfg.op == '+' else 'subtraction'}")
    ax.legend(fontsize=8)
    names = list(result["length_generalisation"])
    xs = np.arange(len(names))
    lg = result["length_generalisation"]
    bx.bar(xs - 0.2, [lg[f]["trained_digits"] for f in names], 0.4,
           label=f"<= {cfg.n_digits} digits (trained)")
    bx.bar(xs + 0.2, [lg[f]["longer_digits"] for f in names], 0.4,
           label=f"{cfg.n_digits + 1} digits (unseen length)")
    bx.set_xticks(xs, [f.replace("_", "\n") for f in names], fontsize=8)
    bx.set_ylabel("exact match")
    bx.set_ylim(0, 1.02)
    bx.set_title(f"length generalisation ({max(cfg.train_sizes)} examples)")
    bx.legend(fontsize=8)
    save_figure(fig, path)


def summary_lines(result) -> list:
    lines = []
    for fmt, rows in result["sweep"].items():
        lines.append(f"{fmt:>20}: " + ", ".join(f"{r['n_train']}: {r['exact_match']:.0%}"
                                                 for r in rows))
    for fmt, row in result["length_generalisation"].items():
        lines.append(f"{fmt:>20}: trained length {row['trained_digits']:.0%}, one digit longer "
                     f"{row['longer_digits']:.0%}")
    lines.append(f"trained in {result['train_seconds']:.0f} s")
    return lines
