"""A small ListOps: evaluate nested list operations over digits; the answer is one digit.

After ListOps ("ListOps: A Diagnostic Dataset for Latent Tree Learning", Nangia & Bowman,
2018) as used in "Long Range Arena: A Benchmark for Efficient Transformers" (Tay et al.,
2020), at a size a CPU trains in seconds: shallow trees, short sequences.

    [MAX 4 [MIN 7 2 ] 9 ] =      ->  9
    [SM 3 [MED 1 8 5 ] 6 ] =     ->  (3 + 5 + 6) mod 10 = 4

Operators: MAX, MIN, MED (the median; for an even count the floor of the mean of the two
middle values -- our choice, so that every answer is a digit), SM (sum mod 10).

Tokens (ids): 0..9 the digits, 10..13 "[MAX" "[MIN" "[MED" "[SM" (an opening bracket fused
with its operator, as in LRA's vocabulary), 14 "]", 15 "=" (the query: the model answers at
this position), 16 PAD (after the query, never scored).  ``batch(...)`` returns the
``recall.Batch`` layout (inputs, targets, mask) of minitx.tasks.recall: one scored position
per row, the "=" token, so ``recall.for_gpt`` and ``recall.accuracy`` apply unchanged.
Every random thing comes from a seed or a numpy Generator.
"""

from __future__ import annotations

import numpy as np

from .recall import Batch

OPS = ("MAX", "MIN", "MED", "SM")
DIGITS = 10
OPEN = {op: DIGITS + i for i, op in enumerate(OPS)}  # "[MAX" -> 10, ...
CLOSE, QUERY, PAD = 14, 15, 16
VOCAB_SIZE = 17
NAMES = [str(d) for d in range(DIGITS)] + [f"[{op}" for op in OPS] + ["]", "=", "<pad>"]

__all__ = ["OPS", "CLOSE", "QUERY", "PAD", "VOCAB_SIZE", "apply", "batch", "decode",
           "evaluate_tokens", "expression", "max_length"]


def apply(op: str, values) -> int:
    """One operator on a list of digits."""
    v = sorted(int(x) for x in values)
    if not v:
        raise ValueError(f"listops: {op} needs at least one argument")
    if op == "MAX":
        return v[-1]
    if op == "MIN":
        return v[0]
    if op == "MED":
        mid = len(v) // 2
        return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) // 2
    if op == "SM":
        return sum(v) % 10
    raise ValueError(f"listops: unknown operator {op!r} (accepted: {', '.join(OPS)})")


def max_length(depth: int, max_args: int) -> int:
    """The longest token count of an expression of this depth and fan-out (without "=")."""
    if depth <= 0:
        return 1
    return 2 + max_args * max_length(depth - 1, max_args)


def _tree(rng, depth, max_args, p_nest):
    """(tokens, value) of a random expression with at most `depth` nested operators."""
    op = OPS[rng.integers(len(OPS))]
    tokens, values = [OPEN[op]], []
    for _ in range(int(rng.integers(2, max_args + 1))):
        if depth > 1 and rng.random() < p_nest:
            sub, val = _tree(rng, depth - 1, max_args, p_nest)
        else:
            val = int(rng.integers(DIGITS))
            sub = [val]
        tokens += sub
        values.append(val)
    return tokens + [CLOSE], apply(op, values)


def expression(rng, depth=2, max_args=4, p_nest=0.35):
    """(token list, answer digit) of one random expression; the root is always an operator."""
    if depth < 1 or max_args < 2:
        raise ValueError(f"listops: need depth >= 1 and max_args >= 2, got depth={depth}, "
                         f"max_args={max_args}")
    if not 0 <= p_nest <= 1:
        raise ValueError(f"listops: p_nest must be a probability in [0, 1], got {p_nest}")
    return _tree(rng, depth, max_args, p_nest)


def batch(size, depth=2, max_args=4, p_nest=0.35, seq_len=None, seed=0) -> Batch:
    """``size`` expressions, each followed by "=" and right-padded to ``seq_len`` (default
    the longest possible, ``max_length(depth, max_args) + 1``).  The answer is scored at "="."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    longest = max_length(depth, max_args) + 1
    T = longest if seq_len is None else seq_len
    if T < longest:
        raise ValueError(f"listops: seq_len {seq_len} is shorter than the longest expression "
                         f"plus '=' ({longest}) for depth={depth}, max_args={max_args}")
    if size < 1:
        raise ValueError(f"listops: size must be >= 1, got {size}")
    inputs = np.full((size, T), PAD, np.int64)   # (B, T)
    targets = np.zeros((size, T), np.int64)
    mask = np.zeros((size, T), bool)
    for row in range(size):
        tokens, answer = expression(rng, depth, max_args, p_nest)
        n = len(tokens)
        inputs[row, :n], inputs[row, n] = tokens, QUERY
        targets[row, n], mask[row, n] = answer, True
    return Batch(inputs, targets, mask)


def evaluate_tokens(tokens) -> int:
    """The value of one expression given as token ids (stops at "=" or PAD), by a recursive
    descent parser; raises ValueError on unbalanced brackets or stray tokens."""
    seq = [int(t) for t in tokens]
    for stop in (QUERY, PAD):
        if stop in seq:
            seq = seq[:seq.index(stop)]
    value, end = _parse(seq, 0)
    if end != len(seq):
        raise ValueError(f"listops: tokens left after the expression at position {end}")
    return value


def _parse(seq, i):
    if i >= len(seq):
        raise ValueError("listops: expression ended early (unbalanced '[')")
    tok = seq[i]
    if tok < DIGITS:
        return tok, i + 1
    if tok not in OPEN.values():
        raise ValueError(f"listops: unexpected token {NAMES[tok] if tok < len(NAMES) else tok} "
                         f"at position {i}")
    op, args, i = OPS[tok - DIGITS], [], i + 1
    while i < len(seq) and seq[i] != CLOSE:
        val, i = _parse(seq, i)
        args.append(val)
    if i >= len(seq):
        raise ValueError("listops: missing ']'")
    return apply(op, args), i + 1


def decode(tokens) -> str:
    """Token ids -> the readable expression (PAD dropped)."""
    return " ".join(NAMES[int(t)] for t in tokens if int(t) != PAD)
