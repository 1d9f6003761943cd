"""n-digit addition and subtraction as text, in the four formats of "Teaching Arithmetic
to Small Transformers" (Lee, Sreenivasan, Lee, Lee & Papailiopoulos, ICLR 2024).

Formats (a prompt, then the completion the model learns to write; "$" opens and closes):

    plain                $128+367=  495$
    reverse              $128+367=  594$             answer digits least significant first
    simple_scratchpad    $128+367=  A5C1,A9C0,A4C0|495$
    detailed_scratchpad  $128+367=  8+7+0=15A5C1,2+6+1=09A9C0,1+3+0=04A4C0|495$

The scratchpads walk the columns from the units up. The paper's simplified scratchpad
writes "A->5 , C->1" per column (A: the answer digit, C: the carry) and then the sum;
its detailed scratchpad also writes each column's sum "8+7+0=15" and restates the
digits still to add and the partial answer ("[1,2] + [3,6] , A=[5] , C=1 , ...").
The renderings above keep every intermediate value the paper writes except those
restated lists, and drop spaces and arrows, so sequences stay short enough for a CPU.
Subtraction (a >= b) uses "-" and C is the borrow; a column's value a_i - b_i - c may
be negative ("2-6-1=-5A5C1").

Sampling (the paper's "structured data sampling"): uniform pairs of n-digit numbers are
almost all n digits long and rarely carry n times, so ``sample_pairs`` can balance the
operand lengths (each operand's digit count uniform in 1..n) and the number of carries
(equal numbers of samples with 0, 1, ..., n carries). ``split`` draws a test set and
training sets that never share a pair.
"""

from __future__ import annotations

import numpy as np

from .tokenizer import CharTokenizer

FORMATS = ("plain", "reverse", "simple_scratchpad", "detailed_scratchpad")
OPS = ("+", "-")
TOKENIZER = CharTokenizer("0123456789+-=$ACG,|")


def _check(fmt=None, op="+"):
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"arithmetic: unknown format {fmt!r} (accepted: {', '.join(FORMATS)})")
    if op not in OPS:
        raise ValueError(f"arithmetic: unknown operation {op!r} (accepted: '+', '-')")


def apply_op(a, b, op="+"):
    _check(op=op)
    return np.asarray(a) + np.asarray(b) if op == "+" else np.asarray(a) - np.asarray(b)


def column_steps(a: int, b: int, op: str = "+"):
    """[(a_i, b_i, carry_in, column value, answer digit, carry_out)] from the units up, one
    per digit of the longer operand. Addition: value = a_i + b_i + c; subtraction (a >= b):
    value = a_i - b_i - c, and a negative value borrows 10."""
    _check(op=op)
    steps, carry = [], 0
    for _ in range(max(len(str(a)), len(str(b)))):
        x, y = a % 10, b % 10
        value = x + y + carry if op == "+" else x - y - carry
        digit, out = (value % 10, value // 10) if op == "+" else (value % 10, int(value < 0))
        steps.append((x, y, carry, value, digit, out))
        carry, a, b = out, a // 10, b // 10
    return steps


def count_carries(a, b, op: str = "+") -> np.ndarray:
    """Number of columns that carry (addition) or borrow (subtraction), elementwise."""
    _check(op=op)
    a, b = np.array(a, dtype=np.int64), np.array(b, dtype=np.int64)
    count, carry = np.zeros(np.broadcast(a, b).shape, np.int64), 0
    while np.any((a > 0) | (b > 0)):
        value = a % 10 + b % 10 + carry if op == "+" else a % 10 - b % 10 - carry
        carry = (value >= 10) if op == "+" else (value < 0)
        count += carry
        a, b = a // 10, b // 10
    return count


def format_example(a: int, b: int, op: str = "+", fmt: str = "plain"):
    """(prompt, completion) text of one example in format ``fmt``."""
    _check(fmt, op)
    if op == "-" and a < b:
        raise ValueError(f"arithmetic: subtraction needs a >= b, got {a} - {b}")
    answer = str(int(apply_op(a, b, op)))
    prompt = f"${a}{op}{b}="
    if fmt == "plain":
        return prompt, answer + "$"
    if fmt == "reverse":
        return prompt, answer[::-1] + "$"
    steps = column_steps(a, b, op)
    if fmt == "simple_scratchpad":
        scratch = ",".join(f"A{d}C{c}" for *_, d, c in steps)
    else:
        scratch = ",".join(f"{x}{op}{y}{op}{cin}={v:02d}A{d}C{c}"
                           for x, y, cin, v, d, c in steps)
    return prompt, f"{scratch}|{answer}$"


def parse_answer(completion: str, fmt: str = "plain"):
    """The integer a completion states as its answer, or None if it states none."""
    _check(fmt)
    text = completion.split("$", 1)[0]
    if fmt in ("simple_scratchpad", "detailed_scratchpad"):
        if "|" not in text:
            return None
        text = text.rsplit("|", 1)[1]
    if fmt == "reverse":
        text = text[::-1]
    return int(text) if text.isdigit() else None


def place_digits(values, width: int) -> np.ndarray:
    """(N,) non-negative ints -> (N, width) digits, column j = the 10^j place."""
    v = np.asarray(values, dtype=np.int64).reshape(-1)
    return (v[:, None] // 10 ** np.arange(width)[None, :]) % 10  # (N, width)


def score(predictions, truths, width: int):
    """Exact match and per-place accuracy (units first, ``width`` places) of predicted
    answers (ints, or None for an unreadable answer, which is wrong at every place)."""
    truths = np.asarray(truths, dtype=np.int64)
    valid = np.array([p is not None and p >= 0 for p in predictions])
    pred = np.array([p if ok else 0 for p, ok in zip(predictions, valid)], dtype=np.int64)
    per_place = (place_digits(pred, width) == place_digits(truths, width)) & valid[:, None]
    return float(np.mean(valid & (pred == truths))), per_place.mean(axis=0)


def _random_with_digits(lengths, rng):
    """One random number with exactly lengths[i] digits per entry (1 digit includes 0)."""
    low = np.where(lengths == 1, 0, 10 ** (lengths - 1))
    return rng.integers(low, 10 ** lengths)


def _draw(n, n_digits, rng, op, balance_digits, lengths=None):
    """n candidate pairs: uniform n-digit-or-shorter numbers, or numbers of given lengths."""
    if lengths is None and not balance_digits:
        a, b = rng.integers(0, 10 ** n_digits, size=(2, n))
    else:
        if lengths is None:
            lengths = rng.integers(1, n_digits + 1, size=(n, 2))
        a, b = _random_with_digits(lengths[:, 0], rng), _random_with_digits(lengths[:, 1], rng)
    if op == "-":
        a, b = np.maximum(a, b), np.minimum(a, b)
    return a, b


def sample_pairs(n: int, n_digits: int, rng: np.random.Generator, op: str = "+",
                 balance_digits: bool = True, balance_carries: bool = True, exclude=(),
                 exact_digits: int | None = None) -> np.ndarray:
    """(n, 2) distinct operand pairs (a, b) with at most ``n_digits`` digits, none of them
    in ``exclude`` (pairs). Balancing as in Lee et al.: operand lengths uniform in
    1..n_digits, and the number of carries spread evenly over 0..n_digits (0..n_digits - 1
    borrows for subtraction; a count that
    cannot reach its share is topped up by the others). ``exact_digits`` instead makes
    the longer operand exactly that long (a length-generalisation test set)."""
    _check(op=op)
    if n < 1 or n_digits < 1:
        raise ValueError(f"arithmetic: need n >= 1 and n_digits >= 1, got n={n}, "
                         f"n_digits={n_digits}")
    top = n_digits if exact_digits is None else exact_digits
    n_counts = top + 1 if op == "+" else top  # the top column of a - b (a >= b) never borrows
    quota = np.full(n_counts, n // n_counts) + (np.arange(n_counts) < n % n_counts)
    seen = {(int(a), int(b)) for a, b in exclude}
    chosen, counts = [], np.zeros(n_counts, np.int64)
    for attempt in range(200):
        m = max(64, 4 * n)
        lengths = None
        if exact_digits is not None:
            lengths = np.stack([np.full(m, exact_digits), rng.integers(1, exact_digits + 1, m)], 1)
            lengths = rng.permuted(lengths, axis=1)
        a, b = _draw(m, n_digits, rng, op, balance_digits, lengths)
        carries = count_carries(a, b, op)
        for x, y, c in zip(a.tolist(), b.tolist(), carries.tolist()):
            if (x, y) in seen or (balance_carries and counts[c] >= quota[c]):
                continue
            seen.add((x, y))
            chosen.append((x, y))
            counts[c] += 1
            if len(chosen) == n:
                return np.array(chosen, dtype=np.int64)
        if balance_carries and attempt >= 20:
            quota = quota + n  # rare carry counts are exhausted: let the others fill in
    raise ValueError(f"arithmetic: could only find {len(chosen)} distinct pairs of <= {top} "
                     f"digits outside the excluded ones, {n} asked")


def split(n_train: int, n_test: int, n_digits: int, rng: np.random.Generator, op: str = "+",
          **balance):
    """(train_pairs, test_pairs) with no pair in both. Nested use: the first k training
    pairs are a training set of size k, so a sweep over sizes reuses one draw."""
    test = sample_pairs(n_test, n_digits, rng, op, **balance)
    train = sample_pairs(n_train, n_digits, rng, op, exclude=test, **balance)
    return train, test


def texts(pairs, op: str = "+", fmt: str = "plain"):
    """([prompts], [completions]) for an (N, 2) array of pairs."""
    rows = [format_example(int(a), int(b), op, fmt) for a, b in pairs]
    return [r[0] for r in rows], [r[1] for r in rows]
