"""Train one small GPT (any registered mixer) on one recall task; used by ``ssm-recall``.

The model is ``minitx.models.gpt.GPT`` with the mixer swapped.  Its learned absolute
position embedding is kept only for the mixers named in ``learned_positions``; for every
other mixer (SSMs and long convolutions know order by construction) the embedding is
replaced by ``NoPositions`` (adds zero, has no parameters), so the model reads tokens
only and can be run at lengths it never saw in training.

GPT applies GPT-2's initialisation to every matrix and zeroes every bias, which would wipe
out what SSM mixers set up on purpose (Mamba's dt_proj bias holds softplus^-1 of step sizes
in [dt_min, dt_max]; with it zeroed and x_proj shrunk, the gradients reaching the selection
are ~1e-15). So each block's mixer is built again after GPT's init, with its own
initialisation (from the global generator, seeded), for every model alike.
"""

from __future__ import annotations

import time

import numpy as np

from ..autograd.factories import zeros
from ..autograd.function import no_grad
from ..mixers import names as mixer_names
from ..models import GPT, GPTConfig
from ..models.gpt import rebuild_mixers_
from ..nn import Module
from ..tasks import recall
from ..train import TrainConfig, train


def check_models(models, field="models"):
    """Every name must be a registered mixer; otherwise one error listing the accepted ones."""
    known = mixer_names()
    unknown = [m for m in models if m not in known]
    if unknown:
        raise ValueError(f"ssm-recall: {field} {unknown} not registered as mixers "
                         f"(accepted: {', '.join(known)})")


class NoPositions(Module):
    """Stands in for GPT's position embedding: positions (T,) -> zeros (T, d_model)."""

    def __init__(self, d_model):
        super().__init__()
        self.d_model = d_model

    def forward(self, positions):
        return zeros(len(positions), self.d_model)


def build(mixer, vocab, block_size, d_model, n_layer, n_head, learned_positions, seed,
          mixer_options=None):
    cfg = GPTConfig(vocab_size=vocab, block_size=block_size, n_layer=n_layer, n_head=n_head,
                    d_model=d_model, mixer=mixer, mixer_options=dict(mixer_options or {}))
    model = rebuild_mixers_(GPT(cfg, seed=seed), seed)  # the mixers' own init, not GPT-2's
    if mixer not in learned_positions:
        model.pos_emb = NoPositions(d_model)  # no absolute positions at all
    return model


def evaluate(model, make, lengths=None, batch=256, seed=12_345):
    """Answer accuracy (token level) on a fixed held-out batch per length; ``make(B, rng,
    length)`` builds a recall.Batch.  Returns {length: accuracy} or one float."""
    out = {}
    with no_grad():
        model.eval()
        for length in (lengths or [None]):
            b = make(batch, np.random.default_rng(seed), length)
            out[length] = recall.accuracy(model(b.inputs).data, b.targets, b.mask)[0]
        model.train()
    return out if lengths else out[None]


def fit(model, make, steps, batch_size, lr, seed, progress=False):
    """Train on fresh batches ``make(batch_size, rng, None)``; returns (loss curve, seconds)."""
    def batch_fn(step, rng):
        b = make(batch_size, rng, None)
        return b.inputs, recall.for_gpt(b.targets, b.mask)

    tcfg = TrainConfig(steps=steps, lr=lr, warmup_steps=min(50, steps // 10), seed=seed,
                       weight_decay=0.0, log_every=max(1, steps // 40), progress=progress)
    t0 = time.perf_counter()
    history = train(model, batch_fn, tcfg)
    return [[r["step"], r["loss"]] for r in history["log"]], time.perf_counter() - t0


def run_one(mixer, make, vocab, block_size, cfg, eval_lengths=None, d_model=None,
            steps=None, mixer_options=None, n_layer=None, lr=None):
    """Build, train and evaluate one model; a dict for result.json. d_model, steps, n_layer
    and lr default to the config's."""
    model = build(mixer, vocab, block_size, d_model or cfg.d_model, n_layer or cfg.n_layer,
                  cfg.n_head, cfg.learned_positions, cfg.seed, mixer_options)
    curve, seconds = fit(model, make, steps or cfg.steps, cfg.batch_size, lr or cfg.lr,
                         cfg.seed, cfg.progress)
    acc = evaluate(model, make, eval_lengths, cfg.eval_batch)
    params = model.num_parameters()
    return {"model": mixer, "accuracy": acc, "parameters": int(params),
            "train_seconds": seconds, "final_loss": float(np.mean([l for _, l in curve[-3:]])),
            "loss_curve": curve}
