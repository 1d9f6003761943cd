"""The small ListOps generator: answers, determinism, well-formed brackets, padding, errors."""

import math
import statistics

import numpy as np
import pytest

from minitx.tasks import listops


def brute_force_value(text: str) -> int:
    """Evaluate the readable form ("[MAX 4 [MIN 7 2 ] ]") with a stack, independently of the
    generator's parser: push on "[OP", reduce on "]"."""
    stack = [[]]
    ops = []
    for word in text.split():
        if word.startswith("["):
            ops.append(word[1:])
            stack.append([])
        elif word == "]":
            args, op = stack.pop(), ops.pop()
            if op == "MAX":
                val = max(args)
            elif op == "MIN":
                val = min(args)
            elif op == "MED":
                val = math.floor(statistics.median(args))
            else:
                val = sum(args) % 10
            stack[-1].append(val)
        elif word == "=":
            break
        else:
            stack[-1].append(int(word))
    assert len(stack) == 1 and len(stack[0]) == 1, text
    return stack[0][0]


@pytest.mark.parametrize("depth,max_args", [(1, 3), (2, 4), (3, 3)])
def test_answers_match_an_independent_evaluator(depth, max_args):
    b = listops.batch(300, depth=depth, max_args=max_args, seed=depth)
    for row in range(300):
        answer = b.targets[row][b.mask[row]]
        assert answer.shape == (1,)
        assert answer[0] == brute_force_value(listops.decode(b.inputs[row]))
        assert answer[0] == listops.evaluate_tokens(b.inputs[row])


def test_same_seed_same_batch_other_seed_other_batch():
    a, b = listops.batch(64, seed=5), listops.batch(64, seed=5)
    c = listops.batch(64, seed=6)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.inputs, c.inputs)
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    np.testing.assert_array_equal(listops.batch(8, seed=g1).inputs,
                                  listops.batch(8, seed=g2).inputs)


@pytest.mark.parametrize("depth,max_args", [(1, 4), (2, 4), (3, 2)])
def test_brackets_balance_and_depth_is_bounded(depth, max_args):
    b = listops.batch(300, depth=depth, max_args=max_args, seed=1)
    opens = set(listops.OPEN.values())
    for row in b.inputs:
        level, deepest = 0, 0
        n = int(np.flatnonzero(row == listops.QUERY)[0])
        for tok in row[:n]:
            level += tok in opens
            level -= tok == listops.CLOSE
            assert level >= 0
            deepest = max(deepest, level)
        assert level == 0 and 1 <= deepest <= depth
        assert row[0] in opens  # the root is an operator
        assert n <= listops.max_length(depth, max_args)
        assert np.all(row[n + 1:] == listops.PAD)  # only padding after the query


def test_scored_position_is_the_query_and_answers_are_spread():
    b = listops.batch(2000, seed=0)
    np.testing.assert_array_equal(b.inputs[b.mask], listops.QUERY)
    counts = np.bincount(b.targets[b.mask], minlength=10)
    assert counts.min() > 0 and counts.max() / counts.sum() < 0.25  # no trivial answer


def test_bad_input_names_the_value():
    with pytest.raises(ValueError, match="seq_len 5"):
        listops.batch(4, depth=2, seq_len=5)
    with pytest.raises(ValueError, match="depth=0"):
        listops.expression(np.random.default_rng(0), depth=0)
    with pytest.raises(ValueError, match="unbalanced|missing"):
        listops.evaluate_tokens([listops.OPEN["MAX"], 3, 4])
    with pytest.raises(ValueError, match="unknown operator"):
        listops.apply("AVG", [1, 2])
