"""Same model, same budget, different token mixer: accuracy on three small synthetic tasks.

Tasks (each a ``recall.Batch`` maker ``make(batch, rng)``; the loss and the accuracy count
the answer positions only):

  mqar            multi-query associative recall (minitx.tasks.recall.mqar, Zoology)
  selective-copy  selective copying (minitx.tasks.recall.selective_copy, Mamba Sec. 3.1)
  listops         a small ListOps (minitx.tasks.listops): the answer digit at "="

Model: a small ``GPT`` (minitx.models.gpt) with ``mixer=name`` for mixers that can be causal;
for bidirectional-only mixers (``causal_capable = False``) the same GPT with
``causal=False`` (every block's mixer sees the whole sequence); in both, every mixer is
built again with its own initialisation after GPT-2's (``rebuild_mixers_``).  A bidirectional model
would see an answer that is also the next input token (MQAR's queried value follows its
key), so for those models every input token that is the answer of the position before it
is replaced by a MASK id (one extra vocabulary entry); the scored positions do not move.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from .. import mixers
from ..autograd.function import no_grad
from ..models.gpt import GPT, GPTConfig, rebuild_mixers_
from ..tasks import listops, recall
from ..train import TrainConfig, train
from ._mixer_speed import options_for

TASKS = ("mqar", "selective-copy", "listops")


# task options per size: "tiny" (CI), "small" (the default budget), "large" (harder)
TASK_SIZES = {
    "tiny": {"mqar": dict(n_pairs=4, n_keys=8, n_values=8),
             "selective-copy": dict(n_memorize=2, n_noise=8, n_symbols=8),
             "listops": dict(depth=1, max_args=3)},
    "small": {"mqar": dict(n_pairs=4, n_keys=8, n_values=8),
              "selective-copy": dict(n_memorize=4, n_noise=16, n_symbols=8),
              "listops": dict(depth=2, max_args=3)},
    "large": {"mqar": dict(n_pairs=8, n_keys=16, n_values=16),
              "selective-copy": dict(n_memorize=4, n_noise=24, n_symbols=8),
              "listops": dict(depth=2, max_args=4)},
}


def task_maker(task: str, size: str = "small"):
    """(make(batch, rng) -> Batch, vocab size, T) for a task at a size of TASK_SIZES."""
    if task not in TASKS:
        raise ValueError(f"mixer-bench: unknown task {task!r} (accepted: {', '.join(TASKS)})")
    if size not in TASK_SIZES:
        raise ValueError(f"mixer-bench: unknown task size {size!r} (accepted: "
                         f"{', '.join(TASK_SIZES)})")
    opts = TASK_SIZES[size][task]
    if task == "mqar":
        return ((lambda b, rng: recall.mqar(b, seed=rng, **opts)),
                recall.vocab_size("mqar", **opts), 4 * opts["n_pairs"])
    if task == "selective-copy":
        return ((lambda b, rng: recall.selective_copy(b, seed=rng, **opts)),
                recall.vocab_size("selective-copy", **opts),
                opts["n_noise"] + 2 * opts["n_memorize"])
    return ((lambda b, rng: listops.batch(b, seed=rng, **opts)), listops.VOCAB_SIZE,
            listops.max_length(**opts) + 1)


def hide_next_answers(b: recall.Batch, mask_id: int) -> recall.Batch:
    """Replace inputs[t + 1] by mask_id wherever position t is scored and its target equals
    inputs[t + 1] (the answer a bidirectional model would otherwise read)."""
    inputs = b.inputs.copy()
    leak = b.mask[:, :-1] & (b.targets[:, :-1] == inputs[:, 1:])  # (B, T - 1)
    inputs[:, 1:][leak] = mask_id
    return recall.Batch(inputs, b.targets, b.mask)


def is_bidirectional(name: str) -> bool:
    return not getattr(mixers.get(name), "causal_capable", True)


def build_model(name, vocab, T, d_model, n_layer, n_head, seed):
    """GPT (causal) or its bidirectional twin; vocab + 1 ids (the last one is MASK)."""
    cfg = GPTConfig(vocab_size=vocab + 1, block_size=T, n_layer=n_layer, n_head=n_head,
                    d_model=d_model, mixer=name, mixer_options=options_for(name, T))
    model = GPT(replace(cfg, causal=not is_bidirectional(name)), seed=seed)
    return rebuild_mixers_(model, seed)  # each mixer with its own init (SSMs need theirs)


def _accuracy(model, make, prep, batch, seed):
    b = prep(make(batch, np.random.default_rng(seed)))
    with no_grad():
        model.eval()
        logits = model(b.inputs).data
        model.train()
    return recall.accuracy(logits, b.targets, b.mask)[0]


def train_and_score(name, task, size="small", d_model=32, n_layer=2, n_head=2, steps=300,
                    batch_size=32, lr=3e-3, eval_batch=256, seed=0) -> dict:
    """Train one model on one task; {"accuracy", "final_loss", "train_seconds", ...}."""
    make, vocab, T = task_maker(task, size)
    mask_id = vocab  # the extra vocabulary entry
    prep = (lambda b: hide_next_answers(b, mask_id)) if is_bidirectional(name) else (lambda b: b)
    model = build_model(name, vocab, T, d_model, n_layer, n_head, seed)

    def batch_fn(step, rng):
        b = prep(make(batch_size, rng))
        return b.inputs, recall.for_gpt(b.targets, b.mask)

    tcfg = TrainConfig(steps=steps, lr=lr, warmup_steps=min(50, steps // 10), seed=seed,
                       weight_decay=0.0, log_every=max(1, steps // 20), progress=False)
    t0, c0 = time.perf_counter(), time.process_time()
    history = train(model, batch_fn, tcfg)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    losses = [r["loss"] for r in history["log"]]
    return {"accuracy": _accuracy(model, make, prep, eval_batch, seed + 12_345),
            "final_loss": float(np.mean(losses[-3:])), "train_seconds": seconds,
            "train_cpu_seconds": cpu, "T": T,
            "bidirectional": is_bidirectional(name), "parameters": int(model.num_parameters())}


def chance_accuracy(task: str, size: str = "small") -> float:
    """Accuracy of always answering the most frequent answer, on a large sample."""
    make, _, _ = task_maker(task, size)
    b = make(4096, np.random.default_rng(99))
    answers = b.targets[b.mask]
    return float(np.bincount(answers).max() / answers.size)


def compare(names, tasks=TASKS, log=None, **kw) -> dict:
    """{task: {mixer: result | {"error": text}}} with the same budget for every mixer."""
    out = {}
    for task in tasks:
        out[task] = {}
        for name in names:
            try:
                out[task][name] = train_and_score(name, task, **kw)
            except Exception as exc:  # recorded, not raised: one mixer must not stop the run
                out[task][name] = {"error": f"{type(exc).__name__}: {exc}"[:200]}
            if log:
                log(f"quality {task} {name}: {out[task][name]}")
    return out
