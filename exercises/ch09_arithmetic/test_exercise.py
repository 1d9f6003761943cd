"""Graded tests of set ch09_arithmetic: arithmetic data and scores.

Each test compares the graded function with the reference (minitx.tasks) on seeded
random inputs, and checks it against arithmetic written out here on decimal strings:
digits read back give the number, carries are counted column by column, the balanced
indices hold every carry count equally, running sums give the product. A test calls
only the function it grades.
"""

import numpy as np
import pytest

from minitx.grading import load_exercise, load_reference
from minitx.grading.checks import assert_close

ex = load_exercise(__file__)    # exercise.py, or the reference under --solution;
ref = load_reference(__file__)  # the reference, for expected values.


@pytest.fixture
def rng():
    return np.random.default_rng(9)


def numbers(rng, n, digits):
    return rng.integers(0, 10 ** rng.integers(1, digits + 1, size=n))


def column_carries(a, b):
    """Carries of a + b counted on decimal strings."""
    width = max(len(str(a)), len(str(b)))
    carry = count = 0
    for x, y in zip(str(a).zfill(width)[::-1], str(b).zfill(width)[::-1]):
        carry = int(int(x) + int(y) + carry >= 10)
        count += carry
    return count


@pytest.mark.points(2)
def test_reverse_digits_matches_reference(rng):
    values = numbers(rng, 50, 5)
    assert_close(ex.reverse_digits(values, 6), ref.reverse_digits(values, 6), "reverse_digits")


@pytest.mark.points(1)
def test_reverse_digits_reads_back_as_the_reversed_string():
    got = np.asarray(ex.reverse_digits(np.array([128, 7, 0, 90210]), 5))
    expected = np.array([[int(c) for c in str(v).zfill(5)[::-1]] for v in (128, 7, 0, 90210)])
    assert_close(got, expected, "reverse_digits([128, 7, 0, 90210], 5)")


@pytest.mark.points(2)
def test_count_carries_matches_reference(rng):
    a, b = numbers(rng, 300, 4), numbers(rng, 300, 4)
    assert_close(ex.count_carries(a, b), ref.count_carries(a, b), "count_carries")


@pytest.mark.points(1)
def test_count_carries_by_hand(rng):
    a, b = numbers(rng, 100, 5), numbers(rng, 100, 3)
    a, b = np.append(a, [999, 15, 12]), np.append(b, [1, 5, 34])
    expected = np.array([column_carries(int(x), int(y)) for x, y in zip(a, b)])
    assert_close(ex.count_carries(a, b), expected, "count_carries (column by column)")


@pytest.mark.points(2)
def test_carry_balanced_indices_matches_reference(rng):
    carries = rng.integers(0, 4, size=200)
    for per_count in (1, 7, 500):
        assert_close(ex.carry_balanced_indices(carries, per_count),
                     ref.carry_balanced_indices(carries, per_count),
                     f"carry_balanced_indices(carries, {per_count})")


@pytest.mark.points(1)
def test_carry_balanced_indices_balance_a_skewed_pool(rng):
    carries = np.concatenate([np.zeros(80, int), np.ones(15, int), np.full(5, 2)])
    carries = carries[rng.permutation(100)]
    kept = np.asarray(ex.carry_balanced_indices(carries, 5))
    assert_close(np.bincount(carries[kept], minlength=3), np.array([5, 5, 5]),
                 "carry counts of the kept candidates")
    assert_close(kept, np.sort(kept), "kept indices (sorted)")


@pytest.mark.points(2)
def test_scratchpad_steps_matches_reference(rng):
    a, b = numbers(rng, 60, 4), numbers(rng, 60, 4)
    assert_close(ex.scratchpad_steps(a, b, 5), ref.scratchpad_steps(a, b, 5), "scratchpad_steps")


@pytest.mark.points(1)
def test_scratchpad_steps_rebuild_the_sum(rng):
    a, b = numbers(rng, 40, 3), numbers(rng, 40, 3)
    steps = np.asarray(ex.scratchpad_steps(a, b, 4))
    rebuilt = (steps[:, :, 1] * 10 ** np.arange(4)).sum(1)
    assert_close(rebuilt, a + b, "sum_i digit_i 10^i")
    assert_close(ex.scratchpad_steps(np.array([128]), np.array([367]), 3),
                 np.array([[[15, 5, 1], [9, 9, 0], [4, 4, 0]]]), "scratchpad_steps(128, 367, 3)")


@pytest.mark.points(2)
def test_per_digit_accuracy_matches_reference(rng):
    truth = numbers(rng, 200, 4)
    predicted = np.where(rng.random(200) < 0.5, truth, truth + rng.integers(1, 300, 200))
    assert_close(ex.per_digit_accuracy(predicted, truth, 5),
                 ref.per_digit_accuracy(predicted, truth, 5), "per_digit_accuracy")


@pytest.mark.points(1)
def test_per_digit_accuracy_small_case():
    got = ex.per_digit_accuracy(np.array([579, 570, 479, 579]), np.array([579] * 4), 3)
    assert_close(got, np.array([0.75, 1.0, 0.75]), "per_digit_accuracy (units, tens, hundreds)")


@pytest.mark.points(2)
def test_running_sums_matches_reference(rng):
    a, b = rng.integers(100, 1000, 80), rng.integers(100, 1000, 80)
    assert_close(ex.running_sums(a, b, 3), ref.running_sums(a, b, 3), "running_sums")


@pytest.mark.points(1)
def test_running_sums_give_the_product(rng):
    a, b = rng.integers(1000, 10000, 50), rng.integers(1000, 10000, 50)
    sums = np.asarray(ex.running_sums(a, b, 4))
    assert_close((sums % 10 * 10 ** np.arange(8)).sum(1), a * b, "sum_k (c_hat_k % 10) 10^k")
    first = np.array([(x % 10) * (y % 10) for x, y in zip(a, b)])
    assert_close(sums[:, 0], first, "c_hat_0 = a_0 b_0")


@pytest.mark.points(2)
def test_cot_tokens_removed_matches_reference(rng):
    steps = rng.integers(0, 5000, 100)
    for args in ((100, 8, 46, 1), (37, 3, 20, 0), (500, 50, 46, 2)):
        assert_close(ex.cot_tokens_removed(steps, *args), ref.cot_tokens_removed(steps, *args),
                     f"cot_tokens_removed(steps, {', '.join(map(str, args))})")


@pytest.mark.points(1)
def test_cot_tokens_removed_schedule_shape():
    got = np.asarray(ex.cot_tokens_removed(np.arange(0, 100, 10), 10, 8, 30, 2))
    assert_close(got, np.array([0, 0, 0, 8, 16, 24, 30, 30, 30, 30]),
                 "cot_tokens_removed at steps 0, 10, ..., 90")
