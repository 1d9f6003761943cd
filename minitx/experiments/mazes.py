"""Next-token prediction vs MLM-U on maze navigation: exact-path accuracy vs maze size.

Paper: "Transformers Can Navigate Mazes With Multi-Step Prediction" (Nolte, Kitouni,
Williams, Rabbat, Ibrahim, 2024).  Claim: transformers trained with MLM-U (hide a
uniformly random fraction of the path tokens, predict them from the rest with a
bidirectional model) navigate mazes better than the same transformers trained to
predict the next token, and the gap grows with the maze size.

Setup, per grid size n (DFS mazes, ``minitx.tasks.mazes``; tokens from
``minitx.tasks.maze_tokens``):
  * one fixed training pool of ``n_train`` problems and a disjoint test set;
  * two models with the same config, parameter count, initial weights, data, steps,
    batch and learning rate: a causal ``GPT`` trained on next tokens and a
    ``BidirectionalGPT`` (or, with mlmu_model="encoder-decoder", the authors' model shape,
    ``minitx.models.masked_encdec``) trained with MLM-U;
  * greedy decoding (MLM-U: left-to-right over masked slots, as in the authors' code;
    one-shot and most-confident-slot-first decoding reported too), scored by exact path
    (= BFS = optimal in a perfect maze) and valid path (start to goal through open
    passages);
  * a random walk of the same length budget as the no-learning baseline.

Status (seed 0): the paper's ordering is NOT reproduced at CPU budgets.
  quick (3x3, 400 steps, 27k parameters): next-token 61% exact paths, random walk 47%,
  MLM-U 0% (on its loss plateau, ~1.9 nats).
  default (3x3..5x5, d_model 64, 3 layers, batch 64, 3000 steps, 4000 training mazes per
  size; 19.4 min on 2 cores): exact paths next-token 100% / 82% / 62%, MLM-U 69% / 42% /
  23%, random walk 52% / 41% / 38%.
What else was tried, each time with next-token ahead (4 layers, lr 1e-3, 3000 steps unless
said; chapter 10 has the table):
  * the authors' model shape (mlmu_model="encoder-decoder") instead of the BERT-shaped
    one: 84% vs 91% on 3x3; 32% vs 52% on 4x4 with 1000 mazes and 8000 steps;
  * training to convergence on a small pool (4x4, 1000 mazes): both memorise it, then
    next-token 60%, MLM-U 48% at 16000 steps -- "4x more sample efficient" reverses;
  * fresh data (5x5, 50,000 mazes): next-token 73%, MLM-U 23%;
  * the paper's adjacency-list layout (4x4): 49% vs 31%;
  * wider models (4x4, 4000 mazes; d_model 64 / 128 / 256 = 0.2M / 0.8M / 3.2M
    parameters, same lr and steps): next-token 80 / 84 / 84%, MLM-U 36 / 50 / 35%;
  * learning rates 3e-4..1e-2, RoPE, and any-order decoding ("confident": worse).
The paper's runs are far larger (per the authors' configs: a 3M-parameter model for 3x3
trained ~47,000 steps at batch 256, 8M parameters for 5x5).  At 0.2M parameters and
minutes of CPU, MLM-U -- which must learn every conditional of the path, not only the
next step -- learns more slowly and generalises worse than next-token prediction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..io import write_json
from ..models import GPT, GPTConfig
from ..models.bidirectional import BidirectionalGPT
from ..models.masked_encdec import EncDecConfig, MaskedEncoderDecoder
from ..tasks import maze_tokens as mt
from ..tasks import mazes
from ..train import TrainConfig, train
from . import _maze_plots as plots
from ._maze_solvers import path_scores, random_walk_scores, solve_mlmu, solve_next_token

NAME = "mazes"
SUMMARY = ("next-token vs MLM-U on maze navigation: exact-path accuracy vs maze size "
           "(Nolte et al.)")
OBJECTIVES = ("next-token", "mlm-u")
MLMU_MODELS = ("bidirectional", "encoder-decoder")


@dataclass(frozen=True)
class Config:
    sizes: tuple = (3, 4, 5)         # grid sizes n (n x n cells)
    algorithm: str = "dfs"           # maze generator (mazes.ALGORITHMS)
    fmt: str = "grid"                # token layout (maze_tokens.FORMATS)
    n_train: int = 4000              # training problems per size (a fixed pool; 3x3 has ~4k)
    n_test: int = 256                # held-out problems per size
    mixer: str = "softmax"           # token mixer of the GPTs (minitx.mixers.names())
    # MLM-U's model: the GPT with causal=False ("bidirectional", BERT's shape) or the
    # authors' shape, an encoder over visible tokens and a position-query decoder with
    # n_layer / 2 layers each ("encoder-decoder", same parameter count up to one norm;
    # softmax attention with RoPE, whatever ``mixer`` says)
    mlmu_model: str = "bidirectional"
    d_model: int = 64
    n_layer: int = 3
    n_head: int = 4
    batch_size: int = 64
    steps: int = 3000                # per size and objective
    lr: float = 2e-3
    warmup_steps: int = 50
    n_examples: int = 4              # pictures per objective in examples.png
    seed: int = 0
    progress: bool = True

    @classmethod
    def quick(cls):
        # one size keeps CI under its budget; the size curve needs the full run
        return cls(sizes=(3,), n_train=3000, n_test=128, d_model=32, n_layer=2, n_head=4,
                   batch_size=32, steps=400, lr=3e-3, warmup_steps=20)

    def __post_init__(self):
        if not self.sizes or any(int(n) < 2 for n in self.sizes):
            raise ValueError(f"{NAME}: sizes must be grid sizes >= 2, got {self.sizes}")
        if self.algorithm not in mazes.ALGORITHMS:
            raise ValueError(f"{NAME}: algorithm must be one of {mazes.ALGORITHMS}, "
                             f"got {self.algorithm!r}")
        if self.mlmu_model not in MLMU_MODELS:
            raise ValueError(f"{NAME}: mlmu_model must be one of {MLMU_MODELS}, "
                             f"got {self.mlmu_model!r}")
        if self.mlmu_model == "encoder-decoder" and self.n_layer % 2:
            raise ValueError(f"{NAME}: the encoder-decoder splits n_layer into two equal stacks "
                             f"to match the next-token GPT's size; n_layer must be even, "
                             f"got {self.n_layer}")
        if self.fmt not in mt.FORMATS:
            raise ValueError(f"{NAME}: fmt must be one of {mt.FORMATS}, got {self.fmt!r}")


def build_model(cfg: Config, n: int, objective: str):
    """The same GPT config for both objectives; MLM-U gets the bidirectional twin, or the
    encoder-decoder with half the layers in each stack."""
    if objective not in OBJECTIVES:
        raise ValueError(f"{NAME}: objective must be one of {OBJECTIVES}, got {objective!r}")
    if objective == "mlm-u" and cfg.mlmu_model == "encoder-decoder":
        ecfg = EncDecConfig(vocab_size=mt.vocab_size(n), mask_id=mt.MASK,
                            n_layer=cfg.n_layer // 2, n_head=cfg.n_head, d_model=cfg.d_model)
        return MaskedEncoderDecoder(ecfg, seed=cfg.seed)
    gcfg = GPTConfig(vocab_size=mt.vocab_size(n), block_size=mt.seq_length(n, cfg.fmt),
                     n_layer=cfg.n_layer, n_head=cfg.n_head, d_model=cfg.d_model,
                     mixer=cfg.mixer)
    cls = GPT if objective == "next-token" else BidirectionalGPT
    return cls(gcfg, seed=cfg.seed)


def batch_fn_for(cfg: Config, n: int, objective: str, train_set):
    """batch_fn(step, rng) drawing a batch from the fixed pool, shaped for the objective."""
    fixed = mt.encode_batch(train_set, cfg.fmt) if cfg.fmt == "grid" else None

    def batch_fn(step, rng):
        idx = rng.integers(len(train_set), size=cfg.batch_size)
        seqs = fixed[idx] if fixed is not None else \
            mt.encode_batch([train_set[i] for i in idx], cfg.fmt, rng)  # reshuffled edges
        if objective == "next-token":
            return mt.next_token_batch(seqs, n, cfg.fmt)
        return mt.mlmu_batch(seqs, n, cfg.fmt, rng)
    return batch_fn


def solve(model, objective: str, problems, fmt: str, mode: str = "left-to-right") -> list:
    if objective == "next-token":
        return solve_next_token(model, problems, fmt)
    return solve_mlmu(model, problems, fmt, mode)


def _run_one(cfg, n, objective, train_set, test_set, out):
    model = build_model(cfg, n, objective)
    tcfg = TrainConfig(steps=cfg.steps, lr=cfg.lr, warmup_steps=cfg.warmup_steps,
                       weight_decay=0.0, seed=cfg.seed, log_every=10, progress=cfg.progress)
    history = train(model, batch_fn_for(cfg, n, objective, train_set), tcfg,
                    out_dir=out / f"train_{n}x{n}_{objective}", resume=False)
    model.eval()
    paths = solve(model, objective, test_set, cfg.fmt)
    row = {"size": n, "objective": objective, **path_scores(test_set, paths),
           "train_seconds": history["time_s"], "parameters": model.num_parameters(),
           "final_loss": float(np.mean([r["loss"] for r in history["log"][-3:]])),
           "loss_curve": [[r["step"], r["loss"]] for r in history["log"]]}
    if objective == "mlm-u":  # the other two decodings of the same model
        for mode in ("one-shot", "confident"):
            row[mode.replace("-", "_")] = path_scores(
                test_set, solve(model, objective, test_set, cfg.fmt, mode))
    return row, paths


def run(cfg: Config, out_dir) -> dict:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows, baselines, examples = [], [], {}
    for n in cfg.sizes:
        train_set, test_set = mazes.make_splits(int(n), cfg.n_train, cfg.n_test,
                                                seed=cfg.seed + 1000 * int(n),
                                                algorithm=cfg.algorithm)
        baselines.append({"size": n, **random_walk_scores(test_set, cfg.seed)})
        for objective in OBJECTIVES:
            row, paths = _run_one(cfg, int(n), objective, train_set, test_set, out)
            rows.append(row)
            if n == max(cfg.sizes):
                examples[objective] = (test_set, paths)
    result = {"experiment": NAME, "config": asdict(cfg), "runs": rows,
              "random_walk": baselines, "gap": _gaps(rows)}
    plots.accuracy_vs_size(result, out / "accuracy_vs_size.png")
    plots.examples(examples, cfg.n_examples, out / "examples.png")
    plots.loss_curves(result, out / "loss.png")
    write_json(result, out / "result.json")
    return result


def _gaps(rows) -> list:
    """Per size: MLM-U minus next-token, exact and valid rates."""
    by = {(r["size"], r["objective"]): r for r in rows}
    return [{"size": n, "exact": by[n, "mlm-u"]["exact"] - by[n, "next-token"]["exact"],
             "valid": by[n, "mlm-u"]["valid"] - by[n, "next-token"]["valid"]}
            for n in sorted({r["size"] for r in rows})]


def summary_lines(result) -> list:
    lines = ["size  objective    exact  valid   (random walk: exact / valid)"]
    walk = {b["size"]: b for b in result["random_walk"]}
    for r in result["runs"]:
        w = walk[r["size"]]
        lines.append(f"{r['size']}x{r['size']}   {r['objective']:<11} {r['exact']:6.1%} "
                     f"{r['valid']:6.1%}   ({w['exact']:.1%} / {w['valid']:.1%})")
    lines.append("MLM-U - next-token, exact: " + ", ".join(
        f"{g['size']}x{g['size']}: {g['exact']:+.1%}" for g in result["gap"]))
    return lines
