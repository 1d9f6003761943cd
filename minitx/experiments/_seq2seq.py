"""Prompt -> completion training for the arithmetic experiments (a helper, not an experiment).

A character-level GPT reads ``prompt + completion`` and is trained by next-token
prediction on the completion's characters only (the prompt's targets are -100, as are
the padding's). At test time it completes each prompt greedily until the stop
character, and the caller parses the answer out of the text it wrote.

Cost: one training step is one forward/backward over (batch, T) tokens; greedy
completion runs one forward over the whole prefix per new token (no KV cache), so it
costs O(new tokens * T^2) attention work per prompt, fine at T < 100.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..autograd.function import no_grad
from ..models import GPT, GPTConfig
from ..train import TrainConfig, train

IGNORE = -100


def lm_arrays(tok, prompts, completions):
    """(ids (N, L), targets (N, L)) over the texts prompt + completion, right-padded; the
    target at position t is token t + 1 where that token belongs to the completion, else
    -100. Inputs of a step are ids[:, :-1] and targets[:, :-1] (see ``batch_fn``)."""
    seqs = [p + c for p, c in zip(prompts, completions)]
    ids = tok.encode_batch(seqs)  # (N, L)
    targets = np.full_like(ids, IGNORE)
    for row, (p, s) in enumerate(zip(prompts, seqs)):
        targets[row, len(p) - 1:len(s) - 1] = ids[row, len(p):len(s)]
    return ids, targets


def longest(prompts, completions) -> int:
    return max(len(p) + len(c) for p, c in zip(prompts, completions))


def build_gpt(tok, block_size, d_model, n_layer, n_head, seed):
    return GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=block_size, n_layer=n_layer,
                         n_head=n_head, d_model=d_model), seed=seed)


def batch_sampler(ids, targets, batch_size, extra=None):
    """batch_fn(step, rng) drawing ``batch_size`` rows with replacement, cropped to the
    longest sequence drawn: (inputs, targets[, extra rows])."""
    lengths = (ids != 0).sum(1)

    def batch_fn(step, rng):
        rows = rng.integers(0, len(ids), size=batch_size)
        width = int(lengths[rows].max())
        out = (ids[rows, :width - 1], targets[rows, :width - 1])
        return out if extra is None else out + (extra[rows, :width - 1],)
    return batch_fn


def fit(model, batch_fn, steps, lr, seed, batch_size=None, eval_fn=None, eval_every=0,
        loss_fn=None, warmup_steps=50, weight_decay=0.1, progress=False):
    """minitx.train.train with the settings these experiments share; returns its history."""
    cfg = TrainConfig(steps=steps, lr=lr, warmup_steps=min(warmup_steps, max(1, steps // 5)),
                      weight_decay=weight_decay, seed=seed, eval_every=eval_every,
                      log_every=max(1, steps // 50), progress=progress)
    kwargs = {"eval_fn": eval_fn} if eval_fn is not None else {}
    if loss_fn is not None:
        kwargs["loss_fn"] = loss_fn
    return train(model, batch_fn, cfg, **kwargs)


@no_grad()
def greedy_complete(model, tok, prompts, max_new: int, stop: str = "$", chunk: int = 512):
    """Each prompt's greedy completion (text up to and including ``stop``, or ``max_new``
    characters). Prompts are grouped by length so a batch needs no padding."""
    was_training = model.training
    model.eval()
    stop_id = int(tok.encode(stop)[0])
    block = model.config.block_size
    out = [""] * len(prompts)
    groups = defaultdict(list)
    for i, p in enumerate(prompts):
        groups[len(p)].append(i)
    for n, rows in groups.items():
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            ids = tok.encode_batch([prompts[i] for i in part])  # (b, n)
            done = np.zeros(len(part), bool)
            for _ in range(min(max_new, block - n + 1)):
                logits = model(ids[:, -block:]).data[:, -1, :]  # (b, vocab)
                nxt = logits.argmax(-1)
                ids = np.concatenate([ids, nxt[:, None]], axis=1)  # (b, t + 1)
                done |= nxt == stop_id
                if done.all():
                    break
            for i, row in zip(part, ids[:, n:]):
                text = tok.decode(row)
                out[i] = text[:text.index(stop) + 1] if stop in text else text
    model.train(was_training)
    return out


def hidden_states(model, ids):
    """Forward pass of a minitx GPT that also returns the residual stream after every
    block: (logits (B, T, vocab), [h_1 .. h_L] each (B, T, C)) as Tensors in the graph."""
    ids = np.asarray(ids)
    T = ids.shape[1]
    x = model.tok_emb(ids) + model.pos_emb(np.arange(T))  # (B, T, C)
    x = model.drop(x)
    states = []
    for block in model.blocks:
        x = block(x)
        states.append(x)
    return model._logits(model.norm(x)), states  # (B, T, vocab)
