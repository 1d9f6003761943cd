"""n x n digit multiplication as text: direct answers, explicit chain of thought, the
stepwise removal of that chain (implicit CoT), and the running sums an auxiliary loss
regresses.

Papers:
  * "Why Can't Transformers Learn Multiplication? Reverse-Engineering Reveals
    Long-Range Dependency Pitfalls" (Bai, Pres, Deng, Tan, Shieber, Viegas,
    Wattenberg & Lee): operands and product written least significant digit first;
    a fine-tuned model fails on the middle digits, a model trained with implicit CoT
    succeeds, and an auxiliary loss that regresses the running sum c_hat_k from the
    hidden state at each answer step lets a 2-layer model learn 4 x 4 digits.
  * "From Explicit CoT to Implicit CoT: Learning to Internalize CoT Step by Step"
    (Deng, Choi & Shieber): train with the CoT, then remove its first tokens a few at
    a time as training goes on, until none are left.
  * "Dissecting Multiplication in Transformers: Insights into LLMs" (Qiu et al.):
    each answer digit is learned as its own subtask; digits that need long carry
    chains (the middle ones) are learned last; reversing the answer helps.

Notation (a, b with n digits, a_i the 10^i digit):
    partial sum    s_k = sum_{i + j = k} a_i * b_j                k = 0 .. 2n - 1
    running sum    c_hat_k = s_k + r_{k-1},  r_k = c_hat_k // 10 (the carry), r_{-1} = 0
    answer digit   c_k = c_hat_k mod 10

Text formats ("*" between operands; operands reversed; "$" ends the completion):
    direct       prompt "8361*5234="  completion "|" + product's 2n digits units first + "$"
    direct_msb   the same with the product's digits most significant first
    cot          completion "pp_0+pp_1(s_1)+...+pp_{n-1}(s_{n-1})|" + answer + "$":
                 pp_j = a * b_j * 10^j and s_j = pp_0 + ... + pp_j, each written units
                 first with n + 1 + j digits (the format of Deng et al.'s multiplication
                 data, without spaces; the last running sum is the answer).
A completion with its first k CoT characters removed is ``cot_completion(..., k)``;
with every CoT character removed it equals the direct completion.
"""

from __future__ import annotations

import numpy as np

from .tokenizer import CharTokenizer

FORMATS = ("direct", "direct_msb", "cot")
TOKENIZER = CharTokenizer("0123456789*=+()|$")


def _check_fmt(fmt):
    if fmt not in FORMATS:
        raise ValueError(f"multiplication: unknown format {fmt!r} (accepted: {', '.join(FORMATS)})")


def digits_lsb(values, width: int) -> np.ndarray:
    """(N,) non-negative ints -> (N, width) digits, units first."""
    v = np.asarray(values, dtype=np.int64).reshape(-1)
    if np.any(v < 0) or np.any(v >= 10 ** width):
        raise ValueError(f"multiplication: values must lie in [0, 10^{width}), got "
                         f"{v.min()} .. {v.max()}")
    return (v[:, None] // 10 ** np.arange(width)[None, :]) % 10  # (N, width)


def _rev(value: int, width: int) -> str:
    return str(value).zfill(width)[::-1]


def running_sums(a, b, n_digits: int) -> np.ndarray:
    """(N, 2n) running sums c_hat_k = sum_{i+j=k} a_i b_j + r_{k-1} (see the module)."""
    da, db = digits_lsb(a, n_digits), digits_lsb(b, n_digits)  # (N, n) each
    pair = da[:, :, None] * db[:, None, :]  # (N, n, n): a_i * b_j
    n = len(da)
    partial = np.zeros((n, 2 * n_digits), np.int64)
    for i in range(n_digits):
        partial[:, i:i + n_digits] += pair[:, i, :]
    out, carry = np.zeros_like(partial), np.zeros(n, np.int64)
    for k in range(2 * n_digits):
        out[:, k] = partial[:, k] + carry
        carry = out[:, k] // 10
    return out


def answer_digits(a, b, n_digits: int) -> np.ndarray:
    """(N, 2n) product digits units first; equals running_sums(...) % 10."""
    return digits_lsb(np.asarray(a, np.int64) * np.asarray(b, np.int64), 2 * n_digits)


def prompt(a: int, b: int, n_digits: int) -> str:
    return f"{_rev(a, n_digits)}*{_rev(b, n_digits)}="


def cot_text(a: int, b: int, n_digits: int) -> str:
    """The chain of thought: partial products a * b_j * 10^j and running sums, units first."""
    parts, total = [], 0
    for j in range(n_digits):
        pp = a * ((b // 10 ** j) % 10) * 10 ** j
        total += pp
        width = n_digits + 1 + j
        parts.append(_rev(pp, width) if j == 0 else f"+{_rev(pp, width)}({_rev(total, width)})"
                     if j < n_digits - 1 else f"+{_rev(pp, width)}")
    return "".join(parts)


def completion(a: int, b: int, n_digits: int, fmt: str = "direct") -> str:
    _check_fmt(fmt)
    product = str(a * b).zfill(2 * n_digits)
    answer = product[::-1] if fmt != "direct_msb" else product
    return ("" if fmt != "cot" else cot_text(a, b, n_digits)) + "|" + answer + "$"


def cot_completion(a: int, b: int, n_digits: int, removed: int) -> str:
    """The CoT completion with its first ``removed`` CoT characters dropped (implicit CoT)."""
    if removed < 0:
        raise ValueError(f"multiplication: removed must be >= 0, got {removed}")
    return cot_text(a, b, n_digits)[removed:] + completion(a, b, n_digits, "direct")


def removal_schedule(step: int, steps_per_stage: int, tokens_per_stage: int,
                     cot_length: int, warmup_stages: int = 0) -> int:
    """How many leading CoT tokens stepwise internalisation removes at ``step``: none for
    the first ``warmup_stages`` stages, then ``tokens_per_stage`` more per stage, at
    most all ``cot_length`` of them."""
    if steps_per_stage < 1 or tokens_per_stage < 1:
        raise ValueError(f"multiplication: steps_per_stage and tokens_per_stage must be >= 1, "
                         f"got {steps_per_stage}, {tokens_per_stage}")
    stage = step // steps_per_stage - warmup_stages
    return int(min(cot_length, max(0, stage) * tokens_per_stage))


def parse_answer(text: str, n_digits: int, fmt: str = "direct"):
    """(2n,) product digits units first from a completion, or None when it has no answer
    of 2n digits after its last '|'."""
    _check_fmt(fmt)
    body = text.split("$", 1)[0]
    if "|" not in body:
        return None
    ans = body.rsplit("|", 1)[1]
    if len(ans) != 2 * n_digits or not ans.isdigit():
        return None
    digits = np.array([int(c) for c in ans], np.int64)
    return digits[::-1].copy() if fmt == "direct_msb" else digits


def per_digit_accuracy(predicted, a, b, n_digits: int):
    """(exact match, (2n,) accuracy of each product digit, units first); an unreadable
    answer (None) is wrong at every digit."""
    truth = answer_digits(a, b, n_digits)
    got = np.array([p if p is not None else np.full(2 * n_digits, -1) for p in predicted])
    hits = got == truth  # (N, 2n)
    return float(hits.all(1).mean()), hits.mean(0)


def sample_pairs(n: int, n_digits: int, rng: np.random.Generator, exclude=()) -> np.ndarray:
    """(n, 2) distinct pairs of operands with exactly ``n_digits`` digits, none in ``exclude``."""
    if n_digits < 1:
        raise ValueError(f"multiplication: n_digits must be >= 1, got {n_digits}")
    low, high = 10 ** (n_digits - 1), 10 ** n_digits
    if n + len(exclude) > (high - low) ** 2:
        raise ValueError(f"multiplication: only {(high - low) ** 2} pairs of {n_digits}-digit "
                         f"numbers exist, {n} asked besides {len(exclude)} excluded")
    seen = {(int(x), int(y)) for x, y in exclude}
    out = []
    while len(out) < n:
        for x, y in rng.integers(low, high, size=(2 * (n - len(out)) + 16, 2)).tolist():
            if (x, y) not in seen:
                seen.add((x, y))
                out.append((x, y))
                if len(out) == n:
                    break
    return np.array(out, dtype=np.int64)
