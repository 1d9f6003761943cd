"""Multiplication data (minitx.tasks.multiplication): running sums against a loop over
digit pairs written here, the chain of thought against Python's integers, the CoT
removal schedule, parsing, per-digit scoring and held-out sampling."""

import numpy as np
import pytest

from minitx.tasks import multiplication as mul


def running_sums_by_hand(a: int, b: int, n: int):
    """c_hat_k = sum_{i+j=k} a_i b_j + carry, digits read from decimal strings."""
    da = [int(c) for c in str(a).zfill(n)[::-1]]
    db = [int(c) for c in str(b).zfill(n)[::-1]]
    out, carry = [], 0
    for k in range(2 * n):
        total = sum(da[i] * db[k - i] for i in range(n) if 0 <= k - i < n) + carry
        out.append(total)
        carry = total // 10
    return out


@pytest.mark.parametrize("n", [2, 3, 4])
def test_running_sums_match_the_definition_and_give_the_product(n):
    pairs = mul.sample_pairs(100, n, np.random.default_rng(n))
    sums = mul.running_sums(pairs[:, 0], pairs[:, 1], n)
    for (a, b), row in zip(pairs.tolist(), sums):
        assert row.tolist() == running_sums_by_hand(a, b, n)
        assert int("".join(str(d) for d in (row % 10)[::-1])) == a * b
    np.testing.assert_array_equal(sums % 10, mul.answer_digits(pairs[:, 0], pairs[:, 1], n))


def test_chain_of_thought_lists_partial_products_and_running_sums():
    rng = np.random.default_rng(0)
    for a, b in mul.sample_pairs(50, 4, rng).tolist():
        cot = mul.cot_text(a, b, 4)
        terms = cot.replace("(", "+").replace(")", "").split("+")
        # pp_0, pp_1, s_1, pp_2, s_2, pp_3, each written units first
        values = [int(t[::-1]) for t in terms]
        pps = [a * ((b // 10 ** j) % 10) * 10 ** j for j in range(4)]
        assert values == [pps[0], pps[1], pps[0] + pps[1], pps[2], sum(pps[:3]), pps[3]]
        assert [len(t) for t in terms] == [5, 6, 6, 7, 7, 8]
        full = mul.completion(a, b, 4, "cot")
        assert full == cot + "|" + str(a * b).zfill(8)[::-1] + "$"
        mul.TOKENIZER.encode(mul.prompt(a, b, 4) + full)


def test_removing_the_whole_chain_gives_the_direct_completion():
    a, b = 1638, 4325
    cot = mul.cot_text(a, b, 4)
    assert mul.cot_completion(a, b, 4, 0) == mul.completion(a, b, 4, "cot")
    assert mul.cot_completion(a, b, 4, len(cot)) == mul.completion(a, b, 4, "direct")
    assert mul.cot_completion(a, b, 4, 5) == cot[5:] + "|05348070$"
    assert mul.prompt(a, b, 4) == "8361*5234="
    assert mul.completion(a, b, 4, "direct_msb") == "|07084350$"


def test_removal_schedule_waits_then_removes_a_stage_at_a_time_up_to_everything():
    counts = [mul.removal_schedule(s, 10, 8, 46, warmup_stages=1) for s in range(0, 120)]
    assert counts[:10] == [0] * 10 and counts[10] == 0 and counts[20] == 8 and counts[29] == 8
    assert all(x <= y for x, y in zip(counts, counts[1:])) and max(counts) == 46
    assert set(np.diff(counts)) <= {0, 8, 6}
    with pytest.raises(ValueError, match="steps_per_stage"):
        mul.removal_schedule(0, 0, 8, 46)


@pytest.mark.parametrize("fmt", mul.FORMATS)
def test_parse_and_score_per_digit(fmt):
    pairs = mul.sample_pairs(30, 3, np.random.default_rng(1))
    texts = [mul.completion(a, b, 3, fmt) for a, b in pairs.tolist()]
    parsed = [mul.parse_answer(t, 3, fmt) for t in texts]
    exact, digits = mul.per_digit_accuracy(parsed, pairs[:, 0], pairs[:, 1], 3)
    assert exact == 1.0 and np.all(digits == 1.0)
    wrong = [p.copy() for p in parsed]
    wrong[0][2] = (wrong[0][2] + 1) % 10
    wrong[1] = None
    exact, digits = mul.per_digit_accuracy(wrong, pairs[:, 0], pairs[:, 1], 3)
    assert exact == pytest.approx(28 / 30)
    expected = np.full(6, 29 / 30)
    expected[2] = 28 / 30
    np.testing.assert_allclose(digits, expected)
    assert mul.parse_answer("123|45$", 3, fmt) is None and mul.parse_answer("9999", 2, fmt) is None


def test_sampling_is_distinct_exact_length_and_avoids_held_out_pairs():
    held = mul.sample_pairs(500, 2, np.random.default_rng(2))
    train = mul.sample_pairs(3000, 2, np.random.default_rng(3), exclude=held)
    assert np.all((train >= 10) & (train < 100))
    assert len({tuple(p) for p in train.tolist()}) == 3000
    assert not {tuple(p) for p in train.tolist()} & {tuple(p) for p in held.tolist()}
    with pytest.raises(ValueError, match="only 8100 pairs"):
        mul.sample_pairs(9000, 2, np.random.default_rng(4))
    with pytest.raises(ValueError, match="'long'"):
        mul.completion(12, 34, 2, "long")
