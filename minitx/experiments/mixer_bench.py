"""Every token mixer side by side: speed and memory against T, and quality on small tasks.

After "Long Range Arena: A Benchmark for Efficient Transformers" (Tay et al., 2020: its
efficiency figure plots speed and memory of each efficient transformer against sequence
length, next to accuracy on ListOps and other tasks) and the CAB comprehensive attention
benchmark ("CAB: Comprehensive Attention Benchmarking on Long Sequence Modeling").

Three parts, each optional (``parts``):

  speed    for every registered mixer (or ``speed_mixers``): forward and forward+backward
           time, wall and CPU (best of ``repeats``), and peak NumPy memory (tracemalloc) at batch 1,
           d_model 64, 4 heads, float32, T in ``speed_Ts``; a length whose time or memory,
           extrapolated from the two largest lengths done, would pass ``max_seconds`` or
           ``max_mb`` is "skipped"; errors are recorded.  Per mixer: the fitted slopes of
           log time vs log T (slope_fwd_bwd on wall time, slope_fwd_bwd_cpu on CPU time)
           and whether its docstring advertises linear cost.
  forms    for linear, gla, deltanet, norm-attention: the fast default form vs the recurrent
           token loop (forward, no graph) at T = ``forms_T``.
  quality  a 2-layer GPT (BidirectionalGPT for bidirectional-only mixers) per mixer in
           ``quality_mixers``, same width, steps, batch and lr, on MQAR, selective copying
           and a small ListOps; answer accuracy on a held-out batch.

Writes result.json, efficiency.png (log-log time and memory vs T) and quality.png (bars).

Cost (measured on this 2-core machine): the speed and forms parts, every registered mixer
up to T = 8192 on one thread, 10 min; the quality part, 9 mixers x 3 "small" tasks
x 800 steps of a 2-layer, 64-wide GPT, 6 min (while another run shared the machine);
``quick()`` about a minute.

Quality measured (default, seed 0), answer accuracy; chance ~0.13 / 0.13 / 0.11:
    mixer           MQAR  sel.copy  ListOps
    softmax         0.61  0.99      0.54
    sliding-window  0.61  0.95      0.54   (window >= T here: softmax again)
    linear          0.60  0.99      0.53
    gla             0.63  1.00      0.55
    deltanet        0.62  1.00      0.55
    mamba           0.61  0.90      0.59
    s4d             0.61  0.89      0.53
    hyena           0.63  0.97      0.54
    linformer       1.00  0.94      0.43   (bidirectional; next answers hidden)
At this budget the tasks barely separate the causal mixers: every one stops near 0.61 on
MQAR (Zoology's gaps need wider models and far longer training), selective copying at this
size is within reach of all, and ListOps sits near 0.55 for all. The LTI models (S4D,
Hyena) and Mamba trail slightly on selective copying; ``ssm-recall`` makes that gap clear
with one layer and longer sequences.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from .. import mixers
from ..io import write_json
from . import _mixer_bench_plots as plots
from . import _mixer_quality as quality
from . import _mixer_speed as speed

NAME = "mixer-bench"
SUMMARY = ("every token mixer: time and memory vs T up to 8192 (LRA efficiency plot, log-log "
           "slopes) and accuracy on MQAR, selective copying and ListOps with the same budget")

PARTS = ("speed", "forms", "quality")
QUALITY_MIXERS = ("softmax", "sliding-window", "linear", "gla", "deltanet", "mamba", "s4d",
                  "hyena", "linformer")


@dataclass(frozen=True)
class Config:
    parts: tuple = PARTS
    speed_mixers: tuple = ()           # empty: every registered mixer
    speed_Ts: tuple = (256, 512, 1024, 2048, 4096, 8192)
    d_model: int = 64
    n_heads: int = 4
    repeats: int = 3
    threads: int = 1                   # Numba and BLAS threads while timing (speed, forms)
    repeat_budget_s: float = 2.0       # stop repeating a measurement after this much time
    max_seconds: float = 20.0          # skip a T whose extrapolated forward+backward is slower
    max_mb: float = 4096.0             # ... or whose extrapolated peak memory is larger
    forms_mixers: tuple = tuple(speed.LOOP_FORM)
    forms_T: int = 4096
    quality_mixers: tuple = QUALITY_MIXERS
    tasks: tuple = quality.TASKS
    task_size: str = "small"           # a size of _mixer_quality.TASK_SIZES
    q_d_model: int = 64
    q_n_layer: int = 2
    q_n_head: int = 2
    steps: int = 800
    batch_size: int = 32
    lr: float = 3e-3
    eval_batch: int = 256
    seed: int = 0
    progress: bool = False

    @classmethod
    def quick(cls):
        return cls(speed_Ts=(64, 128), repeats=1, repeat_budget_s=0.5, forms_T=256,
                   quality_mixers=("softmax", "gla", "linformer"), task_size="tiny",
                   q_d_model=32, steps=30, batch_size=16, eval_batch=64)

    def __post_init__(self):
        bad = [p for p in self.parts if p not in PARTS]
        if bad or not self.parts:
            raise ValueError(f"{NAME}: parts {list(self.parts)} (accepted: any of "
                             f"{', '.join(PARTS)})")
        known = mixers.names()
        for field in ("speed_mixers", "forms_mixers", "quality_mixers"):
            unknown = [m for m in getattr(self, field) if m not in known]
            if unknown:
                raise ValueError(f"{NAME}: {field} {unknown} are not registered mixers "
                                 f"(accepted: {', '.join(known)})")
        if self.task_size not in quality.TASK_SIZES:
            raise ValueError(f"{NAME}: task_size must be one of "
                             f"{', '.join(quality.TASK_SIZES)}, got {self.task_size!r}")
        if self.threads < 1:
            raise ValueError(f"{NAME}: threads must be 1 or more, got {self.threads}")
        if len(self.speed_Ts) < 2 or min(self.speed_Ts) < 2:
            raise ValueError(f"{NAME}: speed_Ts needs two or more lengths >= 2, "
                             f"got {self.speed_Ts}")


def speed_table(cfg: Config, log=None) -> dict:
    """{mixer: {"by_T": {T: cell}, "slope_fwd_bwd", "slope_fwd", "advertised_linear", ...}}."""
    out = {}
    for name in cfg.speed_mixers or mixers.names():
        by_T = speed.sweep(name, cfg.speed_Ts, cfg.max_seconds, cfg.max_mb, log=log,
                           d_model=cfg.d_model, n_heads=cfg.n_heads, repeats=cfg.repeats,
                           budget_s=cfg.repeat_budget_s, seed=cfg.seed)
        Ts = sorted(by_T)
        out[name] = {"by_T": {str(T): by_T[T] for T in Ts},
                     **{f"slope_{key[:-2]}": speed.loglog_slope(Ts, [by_T[T].get(key)
                                                                     for T in Ts])
                        for key in ("fwd_s", "fwd_bwd_s", "fwd_cpu_s", "fwd_bwd_cpu_s")},
                     "advertised_linear": speed.advertises_linear(name),
                     "cost_line": speed.cost_line(name),
                     "causal": getattr(mixers.get(name), "causal_capable", True)}
    return out


def forms_table(cfg: Config, log=None) -> dict:
    out = {}
    for name in cfg.forms_mixers:
        try:
            out[name] = speed.form_times(name, cfg.forms_T, cfg.d_model, cfg.n_heads,
                                         seed=cfg.seed)
        except Exception as exc:  # recorded, not raised
            out[name] = {"error": f"{type(exc).__name__}: {exc}"[:200]}
        if log:
            log(f"forms {name} T={cfg.forms_T}: {out[name]}")
    return out


def run(cfg: Config, out_dir) -> dict:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = (lambda msg: print(msg, file=sys.stderr, flush=True)) if cfg.progress else None
    result = {"config": asdict(cfg), "mixers": mixers.names()}
    if "speed" in cfg.parts:
        with speed.pinned_threads(cfg.threads):
            result["speed"] = speed_table(cfg, log)
        plots.efficiency(result, out / "efficiency.png")
    if "forms" in cfg.parts:
        with speed.pinned_threads(cfg.threads):
            result["forms"] = forms_table(cfg, log)
    if "quality" in cfg.parts:
        result["quality"] = quality.compare(
            cfg.quality_mixers, cfg.tasks, log=log, size=cfg.task_size, d_model=cfg.q_d_model,
            n_layer=cfg.q_n_layer, n_head=cfg.q_n_head, steps=cfg.steps,
            batch_size=cfg.batch_size, lr=cfg.lr, eval_batch=cfg.eval_batch, seed=cfg.seed)
        result["chance"] = {t: quality.chance_accuracy(t, cfg.task_size) for t in cfg.tasks}
        plots.quality_bars(result, out / "quality.png")
    write_json(result, out / "result.json")
    return result
