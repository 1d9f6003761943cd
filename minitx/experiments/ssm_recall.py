"""Which sequence models can recall? Selective copying, induction heads and COPY.

Papers: "Mamba: Linear-Time Sequence Modeling with Selective State Spaces" (Sec. 4.1:
selective copying and induction heads; Table 2's extrapolation of induction heads from
the training length to much longer sequences) and "Can Mamba Always Enjoy the 'Free
Lunch'?" (COPY needs a state that grows with the length copied).

Three parts, every model with the same budget (d_model, layers, steps, batch, lr):

  1. selective copying: each mixer in ``models`` in a small GPT.  The paper's claim: a
     time-invariant SSM (S4D; a fixed convolution kernel) cannot pick the data tokens
     out of the noise at random positions, a selective one (Mamba) can, and attention can.
     This part uses ONE layer (``sc_n_layer``) and its own steps and learning rate: at our
     short lengths two LTI layers can solve the task after all (layer 1 counts the data
     tokens seen so far with a running-sum kernel, the MLP tags each token with its rank,
     layer 2 sums by rank): two-layer S4D reached 80% where two-layer Mamba did, at T = 36.
     The paper's LTI models fail at T = 4096, which a CPU budget cannot reach; with one
     layer the comparison is the mixer's own ability to select.
  2. induction heads, trained at ``ih_train_len`` and evaluated at every length in
     ``ih_eval_lens``.  Softmax attention here has GPT's learned absolute positions
     (the mixers in ``learned_positions``), whose rows past the training length were
     never trained, so it should fail there; the SSMs have no position embedding and
     should keep their accuracy.
  3. a state-size sweep of ``sweep_model`` (its option ``sweep_option``, Mamba's d_state N)
     against COPY length L: the paper's claim is that accuracy falls when N is too small
     for L.

Measured here (default size, seed 0): selective copying Mamba 100%, softmax 81%, H3 82%,
S4D 79%, Hyena 74%; induction heads at T = 32/64/128/256: Mamba 100/100/100/83%, softmax
(learned positions) 100/55/32/24%, H3 100/92/91/90%, Hyena 100/66/11/16%, S4D at chance
(15%). The COPY sweep does NOT show the state-size effect at this budget: accuracy falls
off a length cliff (solved up to L = 6, about 25% from L = 8 on) whatever N is, from N = 1
(16 x 2 channels already hold more numbers than L symbols); the limit is what 800 steps
can learn, not the state.

``parts`` picks which of the three run. Writes result.json, accuracy.png (bars per model
and task), extrapolation.png (part 2) and state_sweep.png (part 3, a heat map).

Cost: the default trains 5 one-layer models x 1200 steps (selective copying), 5 two-layer
models x 600 steps (induction heads) and 12 sweep runs x 800 steps, 32-wide (16 for the
sweep), on sequences of 8..64 tokens: 13 min wall on this 2-core machine while another run
shared it; ``quick()`` trains S4D and Mamba on selective copying only (~10 s).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..io import write_json
from ..tasks import recall
from . import _recall_plots as plots
from ._recall_training import check_models, run_one

NAME = "ssm-recall"
SUMMARY = ("selective copying, induction-head extrapolation and a COPY state-size sweep: "
           "transformer vs S4D, H3, Hyena, Mamba (Mamba paper Sec. 4.1; 'Free Lunch')")


PARTS = ("selective-copy", "induction-heads", "state-sweep")


@dataclass(frozen=True)
class Config:
    parts: tuple = PARTS           # which of the three parts to run
    models: tuple = ("softmax", "s4d", "h3", "hyena", "mamba")
    learned_positions: tuple = ("softmax",)  # mixers that get GPT's learned absolute positions
    d_model: int = 32
    n_layer: int = 2
    n_head: int = 2
    batch_size: int = 32
    steps: int = 600
    lr: float = 3e-3
    n_symbols: int = 8             # data symbols of every task
    sc_memorize: int = 4           # selective copying: data tokens to copy
    sc_noise: int = 28             # ... among this many noise tokens (T = noise + 2 memorize)
    sc_n_layer: int = 1            # selective copying: one layer (see the module docstring)
    sc_steps: int = 1200
    sc_lr: float = 1e-2
    ih_train_len: int = 32         # induction heads: training length
    ih_eval_lens: tuple = (32, 64, 128, 256)
    sweep_model: str = "mamba"
    sweep_option: str = "d_state"  # the mixer option that sets the state size
    sweep_states: tuple = (1, 4, 16)
    sweep_lengths: tuple = (4, 6, 8, 12)
    sweep_d_model: int = 16
    sweep_steps: int = 800
    sweep_lr: float = 1e-2         # at 3e-3 even L = 8 was not learned in the budget
    eval_batch: int = 256
    seed: int = 0
    progress: bool = False

    def __post_init__(self):
        unknown = [p for p in self.parts if p not in PARTS]
        if unknown or not self.parts:
            raise ValueError(f"ssm-recall: parts {list(self.parts)} (accepted: any of "
                             f"{', '.join(PARTS)})")
        check_models(self.models)
        check_models(self.learned_positions, "learned_positions")
        if "state-sweep" in self.parts:
            check_models([self.sweep_model], "sweep_model")
        for name in ("d_model", "n_layer", "n_head", "batch_size", "steps", "n_symbols",
                     "sc_memorize", "sc_n_layer", "sc_steps", "ih_train_len", "eval_batch",
                     "sweep_d_model", "sweep_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"ssm-recall: {name} must be >= 1, got {getattr(self, name)}")
        if self.ih_train_len < 3 or min(self.ih_eval_lens, default=3) < 3:
            raise ValueError(f"ssm-recall: induction-head lengths must be >= 3, got "
                             f"{self.ih_train_len} and {self.ih_eval_lens}")
        if not self.sweep_states or not self.sweep_lengths or min(self.sweep_states) < 1 \
                or min(self.sweep_lengths) < 1:
            raise ValueError(f"ssm-recall: sweep_states {self.sweep_states} and sweep_lengths "
                             f"{self.sweep_lengths} must be >= 1")

    @classmethod
    def quick(cls):
        """Selective copying only, S4D and Mamba, 450 steps on 20-token sequences."""
        return cls(parts=("selective-copy",), models=("s4d", "mamba"), sc_steps=450,
                   sc_memorize=4, sc_noise=12, eval_batch=128)


# ----------------------------------------------------------------------------- the tasks

def selective_copy_maker(cfg):
    def make(batch, rng, _length=None):
        return recall.selective_copy(batch, cfg.sc_memorize, cfg.sc_noise, cfg.n_symbols, rng)
    return make


def induction_maker(cfg):
    def make(batch, rng, length=None):
        return recall.induction_heads(batch, length or cfg.ih_train_len, cfg.n_symbols, rng)
    return make


def copy_maker(cfg, length):
    def make(batch, rng, _length=None):
        return recall.copy(batch, length, cfg.n_symbols, rng)
    return make


# ------------------------------------------------------------------------------- the runs

def run_selective_copy(cfg) -> dict:
    vocab = recall.vocab_size("selective-copy", n_symbols=cfg.n_symbols)
    T = cfg.sc_noise + 2 * cfg.sc_memorize
    return {m: run_one(m, selective_copy_maker(cfg), vocab, T, cfg, n_layer=cfg.sc_n_layer,
                       steps=cfg.sc_steps, lr=cfg.sc_lr) for m in cfg.models}


def run_induction(cfg) -> dict:
    vocab = recall.vocab_size("induction-heads", n_symbols=cfg.n_symbols)
    lengths = sorted(set(cfg.ih_eval_lens) | {cfg.ih_train_len})
    out = {}
    for m in cfg.models:
        row = run_one(m, induction_maker(cfg), vocab, max(lengths), cfg, eval_lengths=lengths)
        row["lengths"] = lengths
        row["accuracy_by_length"] = [row["accuracy"][n] for n in lengths]
        row["accuracy"] = row["accuracy"][cfg.ih_train_len]  # at the training length
        out[m] = row
    return out


def run_state_sweep(cfg) -> dict:
    """accuracy[i][j]: sweep_model with state size sweep_states[i] on COPY of sweep_lengths[j]."""
    vocab = recall.vocab_size("copy", n_symbols=cfg.n_symbols)
    acc = np.zeros((len(cfg.sweep_states), len(cfg.sweep_lengths)))
    seconds = 0.0
    for i, n in enumerate(cfg.sweep_states):
        for j, length in enumerate(cfg.sweep_lengths):
            row = run_one(cfg.sweep_model, copy_maker(cfg, length), vocab, 2 * length, cfg,
                          d_model=cfg.sweep_d_model, steps=cfg.sweep_steps, lr=cfg.sweep_lr,
                          mixer_options={cfg.sweep_option: n})
            acc[i, j] = row["accuracy"]
            seconds += row["train_seconds"]
    return {"model": cfg.sweep_model, "option": cfg.sweep_option,
            "states": list(cfg.sweep_states), "lengths": list(cfg.sweep_lengths),
            "accuracy": acc.tolist(), "chance": 1.0 / cfg.n_symbols, "train_seconds": seconds}


def run(cfg: Config, out_dir) -> dict:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = {"experiment": NAME, "config": asdict(cfg), "chance": 1.0 / cfg.n_symbols}
    if "selective-copy" in cfg.parts:
        result["selective_copy"] = run_selective_copy(cfg)
    if "induction-heads" in cfg.parts:
        result["induction_heads"] = run_induction(cfg)
        plots.extrapolation(result, out / "extrapolation.png")
    if "state-sweep" in cfg.parts:
        result["state_sweep"] = run_state_sweep(cfg)
        plots.state_heatmap(result["state_sweep"], out / "state_sweep.png")
    if "selective_copy" in result or "induction_heads" in result:
        plots.accuracy_bars(result, out / "accuracy.png")
    write_json(result, out / "result.json")
    return result


def summary_lines(result) -> list:
    lines = []
    for task in [t for t in ("selective_copy", "induction_heads") if t in result]:
        accs = ", ".join(f"{m} {r['accuracy']:.0%}" for m, r in result[task].items())
        lines.append(f"{task.replace('_', ' ')} (answer accuracy): {accs}")
    for m, r in result.get("induction_heads", {}).items():
        curve = ", ".join(f"T={n}: {a:.0%}" for n, a in zip(r["lengths"], r["accuracy_by_length"]))
        lines.append(f"  {m} extrapolation: {curve}")
    if "state_sweep" in result:
        s = result["state_sweep"]
        lines.append(f"{s['model']} on COPY, rows {s['option']} = {s['states']}, "
                     f"columns L = {s['lengths']}:")
        lines += ["  " + " ".join(f"{a:5.0%}" for a in row) for row in s["accuracy"]]
    return lines
