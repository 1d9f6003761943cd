"""Addition/subtraction data (minitx.tasks.arithmetic) and the character tokenizer:
every format states the right answer, carries match column addition done by hand on
strings, the sampler balances lengths and carries, and train/test never overlap."""

import numpy as np
import pytest

from minitx.tasks import arithmetic as ar
from minitx.tasks.tokenizer import CharTokenizer


def carries_by_hand(a: int, b: int, op: str) -> int:
    """Column arithmetic on decimal strings: count the columns that carry or borrow."""
    width = max(len(str(a)), len(str(b)))
    xs, ys = str(a).zfill(width)[::-1], str(b).zfill(width)[::-1]
    carry, count = 0, 0
    for x, y in zip(xs, ys):
        v = int(x) + int(y) + carry if op == "+" else int(x) - int(y) - carry
        carry = int(v >= 10) if op == "+" else int(v < 0)
        count += carry
    return count


def random_pairs(rng, n, op):
    a = rng.integers(0, 10 ** rng.integers(1, 5, n))
    b = rng.integers(0, 10 ** rng.integers(1, 5, n))
    return (np.maximum(a, b), np.minimum(a, b)) if op == "-" else (a, b)


@pytest.mark.parametrize("op", ["+", "-"])
def test_carry_count_matches_column_arithmetic(op):
    a, b = random_pairs(np.random.default_rng(0), 400, op)
    expected = [carries_by_hand(int(x), int(y), op) for x, y in zip(a, b)]
    np.testing.assert_array_equal(ar.count_carries(a, b, op), expected)
    assert ar.count_carries(999, 1, "+") == 3 and ar.count_carries(1000, 1, "-") == 3


@pytest.mark.parametrize("fmt", ar.FORMATS)
@pytest.mark.parametrize("op", ["+", "-"])
def test_every_format_states_the_true_answer(fmt, op):
    a, b = random_pairs(np.random.default_rng(1), 200, op)
    for x, y in zip(a.tolist(), b.tolist()):
        prompt, completion = ar.format_example(x, y, op, fmt)
        assert prompt == f"${x}{op}{y}=" and completion.endswith("$")
        assert completion.count("$") == 1
        truth = x + y if op == "+" else x - y
        assert ar.parse_answer(completion, fmt) == truth
        ar.TOKENIZER.encode(prompt + completion)  # every character is in the alphabet


def test_reverse_is_plain_backwards_and_scratchpads_list_digits_and_carries():
    for x, y in [(128, 367), (999, 1), (5, 70), (0, 0)]:
        plain = ar.format_example(x, y, "+", "plain")[1]
        assert ar.format_example(x, y, "+", "reverse")[1] == plain[:-1][::-1] + "$"
        simple = ar.format_example(x, y, "+", "simple_scratchpad")[1]
        steps = simple.split("|")[0].split(",")
        width = max(len(str(x)), len(str(y)))
        assert len(steps) == width
        total = str(x + y).zfill(width)[::-1]
        carry = 0
        for i, step in enumerate(steps):
            col = int(str(x).zfill(width)[::-1][i]) + int(str(y).zfill(width)[::-1][i]) + carry
            carry = col // 10
            assert step == f"A{total[i]}C{carry}"
    detailed = ar.format_example(128, 367, "+", "detailed_scratchpad")[1]
    assert detailed.startswith("8+7+0=15A5C1,2+6+1=09A9C0,") and detailed.endswith("|495$")
    assert ar.format_example(702, 386, "-", "detailed_scratchpad")[1].startswith("2-6-0=-4A6C1")


def test_unreadable_answers_parse_to_none_and_score_wrong_everywhere():
    assert ar.parse_answer("12+", "plain") is None
    assert ar.parse_answer("A5C1,A9", "simple_scratchpad") is None
    exact, per_place = ar.score([579, None, 570], [579, 579, 579], width=4)
    assert exact == pytest.approx(1 / 3)
    np.testing.assert_allclose(per_place, [1 / 3, 2 / 3, 2 / 3, 2 / 3])


def test_sampler_balances_carries_and_lengths_and_keeps_pairs_distinct():
    rng = np.random.default_rng(2)
    pairs = ar.sample_pairs(2000, 3, rng)
    counts = np.bincount(ar.count_carries(pairs[:, 0], pairs[:, 1]), minlength=4)
    np.testing.assert_array_equal(counts, [500, 500, 500, 500])
    assert len({tuple(p) for p in pairs.tolist()}) == 2000 and pairs.max() < 1000
    lengths = np.array([[len(str(v)) for v in row] for row in
                        ar.sample_pairs(1200, 4, rng, balance_carries=False).tolist()])
    share = np.bincount(lengths.reshape(-1), minlength=5)[1:] / lengths.size
    np.testing.assert_allclose(share, [1 / 4] * 4, atol=0.04)  # uniform pairs: 1% one-digit
    plain = ar.sample_pairs(3000, 3, rng, balance_digits=False, balance_carries=False)
    assert np.mean(plain < 10) < 0.03


def test_split_never_shares_a_pair_and_subtraction_is_non_negative():
    train, test = ar.split(1500, 300, 2, np.random.default_rng(3), "-")
    assert not {tuple(p) for p in train.tolist()} & {tuple(p) for p in test.tolist()}
    assert np.all(train[:, 0] >= train[:, 1]) and np.all(test[:, 0] >= test[:, 1])
    longer = ar.sample_pairs(200, 2, np.random.default_rng(4), exact_digits=3)
    assert np.all(np.maximum(longer[:, 0], longer[:, 1]) >= 100) and longer.max() < 1000
    with pytest.raises(ValueError, match="distinct pairs"):
        ar.sample_pairs(200, 1, np.random.default_rng(5))  # only 100 one-digit pairs exist


def test_bad_names_are_reported():
    with pytest.raises(ValueError, match="'hex'"):
        ar.format_example(1, 2, "+", "hex")
    with pytest.raises(ValueError, match=r"'\*'"):
        ar.count_carries(1, 2, "*")
    with pytest.raises(ValueError, match="a >= b"):
        ar.format_example(1, 2, "-", "plain")


def test_char_tokenizer_round_trips_and_pads():
    tok = CharTokenizer("0123456789+=$")
    text = "$12+7=19$"
    assert tok.decode(tok.encode(text)) == text
    batch = tok.encode_batch(["$1+1=2$", "$10+1=11$"])
    assert batch.shape == (2, 9) and np.all(batch[0, 7:] == tok.pad_id)
    assert tok.vocab_size == 14 and tok.decode(batch[0]) == "$1+1=2$"
    with pytest.raises(ValueError, match="'x'"):
        tok.encode("1x2")
    with pytest.raises(ValueError, match="repeats"):
        CharTokenizer("00")
