"""Reference for ch09_arithmetic (arithmetic as text): the library where it has the
function (``minitx.tasks.arithmetic`` and ``multiplication``), plain NumPy otherwise.

carry_balanced_indices is the deterministic core of ``arithmetic.sample_pairs``'s
carry balancing; scratchpad_steps is ``arithmetic.column_steps`` over a fixed number of
columns; cot_tokens_removed is ``multiplication.removal_schedule`` over many steps.
"""

import numpy as np

from minitx.tasks import arithmetic as ar
from minitx.tasks import multiplication as mul


def reverse_digits(values, width):
    return ar.place_digits(values, width)


def count_carries(a, b):
    return ar.count_carries(a, b, "+")


def carry_balanced_indices(carries, per_count):
    carries = np.asarray(carries, dtype=np.int64)
    if carries.size == 0:
        return np.zeros(0, np.int64)
    kept = [np.flatnonzero(carries == c)[:per_count] for c in range(int(carries.max()) + 1)]
    return np.sort(np.concatenate(kept)).astype(np.int64)


def scratchpad_steps(a, b, n_digits):
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    carry = np.zeros(len(a), np.int64)
    columns = []
    for i in range(n_digits):
        s = (a // 10 ** i) % 10 + (b // 10 ** i) % 10 + carry
        carry = s // 10
        columns.append(np.stack([s, s % 10, carry], axis=1))  # (N, 3)
    return np.stack(columns, axis=1)  # (N, n_digits, 3)


def per_digit_accuracy(predicted, truth, width):
    hits = ar.place_digits(predicted, width) == ar.place_digits(truth, width)  # (N, width)
    return hits.mean(axis=0).astype(np.float64)


def running_sums(a, b, n_digits):
    return mul.running_sums(a, b, n_digits)


def cot_tokens_removed(steps, steps_per_stage, tokens_per_stage, cot_length, warmup_stages):
    return np.array([mul.removal_schedule(int(s), steps_per_stage, tokens_per_stage, cot_length,
                                          warmup_stages) for s in np.asarray(steps).reshape(-1)],
                    dtype=np.int64)
