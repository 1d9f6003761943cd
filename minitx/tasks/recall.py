"""Recall tasks that tell sequence models apart: what must a layer remember, and for how long?

Every generator returns three int64/bool arrays of shape (batch, T):

    inputs   the token ids the model reads
    targets  the id the model should output at each position (0 where nothing is scored)
    mask     True where the loss (and the accuracy) counts: the answer positions only

``for_gpt(targets, mask)`` turns them into the targets ``minitx.models.gpt.GPT`` takes
(-100 = ignored), so ``model(inputs, for_gpt(targets, mask))`` trains on the answers only.
Every generator takes a seed or a ``numpy.random.Generator``: the same seed gives the same
batch.  Layouts (n = n_symbols):

selective_copy   "Mamba: Linear-Time Sequence Modeling with Selective State Spaces", Sec. 3.1
                 and 4.1.1 (the Copying task of the S4 line of work with random spacing).
                 vocab: 0 = noise, 1..n = data symbols, n + 1 = marker.
                 inputs:  n_memorize data symbols at random positions among n_noise noise
                          tokens, then n_memorize markers;  targets: at the i-th marker, the
                          i-th data symbol of the context.  An LTI model cannot tell where
                          the data sit without looking at them; a selective one can.
induction_heads  same paper, Sec. 4.1.2 (after "In-context Learning and Induction Heads" and
                 H3).  vocab: 0..n-1 = symbols, n = the special token.
                 inputs: random symbols; the special token once at a random position p, then
                         once more as the last token;  target at the last position: inputs[p+1].
mqar             multi-query associative recall ("Zoology: Measuring and Improving Recall in
                 Efficient Language Models"; used by "Simple linear attention language models
                 balance the recall-throughput tradeoff" (Based)).
                 vocab: 0..n_keys-1 = keys, n_keys..n_keys+n_values-1 = values.
                 inputs: k_1 v_1 ... k_P v_P, then n_queries of the keys (distinct, random
                         order), each followed by its value;  target at a queried key: its
                         value (the next token).
copy             COPY of "Can Mamba Always Enjoy the 'Free Lunch'?" (and "Repeat After Me:
                 Transformers are Better than State Space Models at Copying").
                 vocab: 0..n-1 = symbols, n = delimiter.
                 inputs: x_1..x_L, DELIM, x_1..x_{L-1};  targets from the delimiter on:
                         x_1..x_L (next-token prediction of the second copy).
"""

from __future__ import annotations

import inspect
from typing import NamedTuple

import numpy as np

IGNORE = -100

__all__ = ["Batch", "IGNORE", "TASKS", "accuracy", "copy", "for_gpt", "induction_heads", "mqar",
           "selective_copy", "vocab_size"]


class Batch(NamedTuple):
    inputs: np.ndarray   # (B, T) int64
    targets: np.ndarray  # (B, T) int64, 0 where mask is False
    mask: np.ndarray     # (B, T) bool, True at the answer positions


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, (int, np.integer)):
        return np.random.default_rng(seed)
    raise TypeError(f"recall: seed must be an int or a numpy Generator, got {type(seed).__name__}")


def _need(name, value, low):
    if not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"recall: {name} must be an integer >= {low}, got {value!r}")


def for_gpt(targets, mask) -> np.ndarray:
    """Targets for GPT's loss: the answers where ``mask`` is True, -100 (ignored) elsewhere."""
    return np.where(mask, targets, IGNORE)


def accuracy(logits, targets, mask) -> tuple[float, float]:
    """(token accuracy over the answer positions, fraction of sequences with every answer right)
    for logits (B, T, vocab) or predicted ids (B, T)."""
    pred = np.asarray(logits)
    if pred.ndim == 3:
        pred = pred.argmax(-1)
    right = (pred == targets) | ~mask
    return float((pred == targets)[mask].mean()), float(right.all(axis=1).mean())


# ------------------------------------------------------------------------ selective copying

def selective_copy(batch, n_memorize=4, n_noise=16, n_symbols=8, seed=0) -> Batch:
    """Selective copying: T = n_noise + 2 * n_memorize (layout in the module docstring)."""
    for name, value, low in (("batch", batch, 1), ("n_memorize", n_memorize, 1),
                             ("n_noise", n_noise, 0), ("n_symbols", n_symbols, 1)):
        _need(name, value, low)
    rng = _rng(seed)
    context = n_noise + n_memorize
    data = rng.integers(1, n_symbols + 1, size=(batch, n_memorize))  # (B, M) symbols 1..n
    # random distinct positions for the data, kept in order: argsort of uniform keys
    where = np.sort(np.argsort(rng.random((batch, context)), axis=1)[:, :n_memorize], axis=1)
    inputs = np.zeros((batch, context + n_memorize), np.int64)  # (B, T), noise everywhere
    np.put_along_axis(inputs, where, data, axis=1)
    inputs[:, context:] = n_symbols + 1  # the markers
    targets = np.zeros_like(inputs)
    targets[:, context:] = data
    mask = np.zeros(inputs.shape, bool)
    mask[:, context:] = True
    return Batch(inputs, targets, mask)


# --------------------------------------------------------------------------- induction heads

def induction_heads(batch, seq_len=32, n_symbols=8, seed=0) -> Batch:
    """Induction heads: T = seq_len; one scored position, the last (layout in the docstring)."""
    for name, value, low in (("batch", batch, 1), ("seq_len", seq_len, 3),
                             ("n_symbols", n_symbols, 1)):
        _need(name, value, low)
    rng = _rng(seed)
    special = n_symbols
    inputs = rng.integers(0, n_symbols, size=(batch, seq_len)).astype(np.int64)  # (B, T)
    first = rng.integers(0, seq_len - 2, size=batch)  # p <= T - 3, so p + 1 is not the end
    rows = np.arange(batch)
    inputs[rows, first] = special
    inputs[:, -1] = special
    targets = np.zeros_like(inputs)
    targets[:, -1] = inputs[rows, first + 1]
    mask = np.zeros(inputs.shape, bool)
    mask[:, -1] = True
    return Batch(inputs, targets, mask)


# ------------------------------------------------------------- multi-query associative recall

def mqar(batch, n_pairs=8, n_queries=None, n_keys=16, n_values=16, seed=0) -> Batch:
    """MQAR: T = 2 * n_pairs + 2 * n_queries (n_queries defaults to n_pairs)."""
    n_queries = n_pairs if n_queries is None else n_queries
    for name, value, low in (("batch", batch, 1), ("n_pairs", n_pairs, 1),
                             ("n_queries", n_queries, 1), ("n_values", n_values, 1)):
        _need(name, value, low)
    _need("n_keys", n_keys, n_pairs)
    if n_queries > n_pairs:
        raise ValueError(f"recall: n_queries {n_queries} > n_pairs {n_pairs}: each key is "
                         "queried at most once")
    rng = _rng(seed)
    keys = np.argsort(rng.random((batch, n_keys)), axis=1)[:, :n_pairs]  # (B, P) distinct keys
    values = n_keys + rng.integers(0, n_values, size=(batch, n_pairs))   # (B, P)
    asked = np.argsort(rng.random((batch, n_pairs)), axis=1)[:, :n_queries]  # (B, Q) pair ids
    q_keys = np.take_along_axis(keys, asked, axis=1)
    q_values = np.take_along_axis(values, asked, axis=1)
    context = np.stack([keys, values], axis=2).reshape(batch, 2 * n_pairs)    # k1 v1 k2 v2 ...
    queries = np.stack([q_keys, q_values], axis=2).reshape(batch, 2 * n_queries)
    inputs = np.concatenate([context, queries], axis=1).astype(np.int64)  # (B, T)
    targets = np.zeros_like(inputs)
    mask = np.zeros(inputs.shape, bool)
    at_keys = 2 * n_pairs + 2 * np.arange(n_queries)  # positions of the queried keys
    targets[:, at_keys] = q_values
    mask[:, at_keys] = True
    return Batch(inputs, targets, mask)


# ------------------------------------------------------------------------------------- COPY

def copy(batch, length=8, n_symbols=8, seed=0) -> Batch:
    """COPY: T = 2 * length; the last `length` positions are scored (layout in the docstring)."""
    for name, value, low in (("batch", batch, 1), ("length", length, 1),
                             ("n_symbols", n_symbols, 1)):
        _need(name, value, low)
    rng = _rng(seed)
    x = rng.integers(0, n_symbols, size=(batch, length))  # (B, L)
    delim = np.full((batch, 1), n_symbols)
    seq = np.concatenate([x, delim, x], axis=1).astype(np.int64)  # (B, 2L + 1)
    inputs, targets = seq[:, :-1].copy(), seq[:, 1:].copy()       # (B, 2L) each
    mask = np.zeros(inputs.shape, bool)
    mask[:, length:] = True  # from the delimiter on, the next token is the copy
    targets[~mask] = 0
    return Batch(inputs, targets, mask)


# --------------------------------------------------------------------------------- registry

TASKS = {"selective-copy": selective_copy, "induction-heads": induction_heads, "mqar": mqar,
         "copy": copy}


def vocab_size(task: str, **options) -> int:
    """The number of token ids ``task`` uses with these options (the generator's defaults
    for the others)."""
    if task not in TASKS:
        raise KeyError(f"unknown recall task {task!r} (accepted: {', '.join(TASKS)})")
    defaults = {k: p.default for k, p in inspect.signature(TASKS[task]).parameters.items()}
    opt = {**defaults, **options}
    if task == "selective-copy":
        return opt["n_symbols"] + 2  # noise, symbols, marker
    if task == "mqar":
        return opt["n_keys"] + opt["n_values"]
    return opt["n_symbols"] + 1  # symbols, then the special token / delimiter
