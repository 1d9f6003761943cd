"""Exercise set 9, arithmetic as text: the data behind "Teaching Arithmetic to Small
Transformers" and the multiplication papers of chapter 9.

You write the pieces that turn numbers into training data and predictions into
scores: digits written units first (the "reverse" format), the carry counter and the
carry-balanced sampler of Lee et al., the per-column steps of a scratchpad, per-digit
accuracy, the running sums c_hat_k that Bai et al.'s auxiliary loss regresses, and the
schedule that removes chain-of-thought tokens during implicit-CoT training. The tests
compare each function with minitx.tasks.arithmetic / multiplication on random inputs
and check it against the arithmetic it describes.

Replace each `raise NotImplementedError(...)` with your code, then run
`minitx grade ch09` and read the hints of the failing tests. Keep the names and the
signatures. Inputs are NumPy int arrays of non-negative numbers; return NumPy arrays
(int64 for digits and counts, float64 for accuracies), never Python lists.
"""

import numpy as np  # noqa: F401  (for your code)


def reverse_digits(values, width):
    """Digits of each value, units first: (N,) ints -> (N, width) int array with
    out[n, j] = the 10^j digit of values[n] (leading zeros included, so 128 with
    width 4 gives [8, 2, 1, 0]). This is the "reverse" answer format of Lee et al."""
    raise NotImplementedError("out[:, j] = (values // 10**j) % 10 for j in range(width)")


def count_carries(a, b):
    """(N,) number of columns that carry when adding a[n] + b[n] by hand
    (999 + 1 carries 3 times, 15 + 5 once, 12 + 34 never)."""
    raise NotImplementedError("walk the columns: s = a % 10 + b % 10 + carry; carry = s >= 10; "
                              "a //= 10; b //= 10 until a and b are all 0")


def carry_balanced_indices(carries, per_count):
    """Lee et al.'s carry-balanced sampling, made deterministic: given the carry counts
    (N,) of a pool of candidate pairs, keep the first ``per_count`` candidates (in pool
    order) of every carry count 0, 1, ..., carries.max() (all of them if a count has
    fewer). Return the kept indices sorted ascending, an int64 array."""
    raise NotImplementedError("for each c in range(carries.max() + 1): "
                              "np.flatnonzero(carries == c)[:per_count]; then concatenate and sort")


def scratchpad_steps(a, b, n_digits):
    """The columns of a + b, units first, as a scratchpad writes them: an (N, n_digits, 3)
    int array whose row [n, i] is (column sum a_i + b_i + carry_in, answer digit,
    carry_out) for column i (operands padded with leading zeros to n_digits digits).
    For 128 + 367: [[15, 5, 1], [9, 9, 0], [4, 4, 0]]."""
    raise NotImplementedError("loop over i in range(n_digits): s = a_i + b_i + carry; "
                              "digit = s % 10; carry = s // 10; stack [s, digit, carry]")


def per_digit_accuracy(predicted, truth, width):
    """Accuracy of each decimal place: (width,) float64 whose entry j is the fraction of
    rows where predicted[n] and truth[n] have the same 10^j digit (ints, (N,) each)."""
    raise NotImplementedError("compare the two (N, width) digit arrays elementwise, "
                              "then take the mean over rows")


def running_sums(a, b, n_digits):
    """Bai et al.'s running sums for n_digits x n_digits multiplication: (N, 2 n_digits)
    int array with c_hat_k = sum_{i + j = k} a_i b_j + r_{k-1}, r_k = c_hat_k // 10,
    r_{-1} = 0 (a_i: the 10^i digit of a). c_hat_k % 10 is the product's 10^k digit."""
    raise NotImplementedError("add a_i * b_j into column i + j of a (N, 2n) array, then sweep "
                              "k upwards adding the previous column's // 10")


def cot_tokens_removed(steps, steps_per_stage, tokens_per_stage, cot_length, warmup_stages):
    """Stepwise internalisation (Deng et al.): at training step s the first
    min(cot_length, max(0, s // steps_per_stage - warmup_stages) * tokens_per_stage)
    chain-of-thought tokens are removed. steps: (N,) ints -> (N,) int64 array."""
    raise NotImplementedError("stage = steps // steps_per_stage - warmup_stages; clip "
                              "stage * tokens_per_stage to [0, cot_length]")
