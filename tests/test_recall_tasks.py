"""The recall tasks: every answer is recoverable from the inputs by a brute-force reader,
generators are deterministic per seed, and only the answer positions carry loss."""

import numpy as np
import pytest

from minitx.models import GPT, GPTConfig
from minitx.tasks import recall

# one small instance of every task: (generator, kwargs)
CASES = {
    "selective-copy": (recall.selective_copy, dict(n_memorize=5, n_noise=11, n_symbols=6)),
    "induction-heads": (recall.induction_heads, dict(seq_len=13, n_symbols=5)),
    "mqar": (recall.mqar, dict(n_pairs=6, n_queries=4, n_keys=9, n_values=7)),
    "copy": (recall.copy, dict(length=7, n_symbols=5)),
}


def make(task, batch=64, seed=0):
    fn, kwargs = CASES[task]
    return fn(batch, seed=seed, **kwargs)


# ------------------------------------------------- brute-force readers: inputs -> answers

def read_selective_copy(row, n_symbols):
    """The data symbols of the context in order, one per marker."""
    marker = n_symbols + 1
    context = [t for t in row if t != marker]
    n_markers = len(row) - len(context)
    assert list(row[len(context):]) == [marker] * n_markers  # markers only at the end
    return [t for t in context if t != 0], list(range(len(context), len(row)))


def read_induction(row, n_symbols):
    """The token after the special token's earlier occurrence, at the last position."""
    special = [i for i, t in enumerate(row) if t == n_symbols]
    assert len(special) == 2 and special[1] == len(row) - 1
    return [row[special[0] + 1]], [len(row) - 1]


def read_mqar(row, n_pairs):
    """Each query key's value from the key-value context; answers sit at the query keys."""
    table = {}
    for i in range(0, 2 * n_pairs, 2):
        assert row[i] not in table  # keys are distinct
        table[row[i]] = row[i + 1]
    where = list(range(2 * n_pairs, len(row), 2))
    return [table[row[i]] for i in where], where


def read_copy(row, n_symbols):
    """After the delimiter, the next token is the next symbol of the string before it."""
    d = list(row).index(n_symbols)
    string = list(row[:d])
    assert list(row[d + 1:]) == string[:len(row) - d - 1]
    return string, list(range(d, len(row)))


def brute_force(task, row):
    kw = CASES[task][1]
    if task == "selective-copy":
        return read_selective_copy(row, kw["n_symbols"])
    if task == "induction-heads":
        return read_induction(row, kw["n_symbols"])
    if task == "mqar":
        return read_mqar(row, kw["n_pairs"])
    return read_copy(row, kw["n_symbols"])


@pytest.mark.parametrize("task", CASES)
def test_answers_are_recoverable_from_the_inputs(task):
    b = make(task)
    assert b.inputs.shape == b.targets.shape == b.mask.shape
    assert b.inputs.dtype == np.int64 and b.mask.dtype == bool
    for row, target, mask in zip(b.inputs, b.targets, b.mask):
        answers, where = brute_force(task, row)
        assert list(np.flatnonzero(mask)) == where
        assert list(target[mask]) == answers
        assert not target[~mask].any()  # nothing stored where nothing is scored


@pytest.mark.parametrize("task", CASES)
def test_token_ids_fit_the_documented_vocabulary(task):
    b = make(task)
    vocab = recall.vocab_size(task, **CASES[task][1])
    assert b.inputs.min() >= 0 and b.inputs.max() < vocab
    assert b.targets[b.mask].min() >= 0 and b.targets[b.mask].max() < vocab
    assert len(np.unique(b.inputs)) == vocab  # 64 rows use every id


@pytest.mark.parametrize("task", CASES)
def test_generators_are_deterministic_per_seed(task):
    a, b, c = make(task, seed=7), make(task, seed=7), make(task, seed=8)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.inputs, c.inputs)
    fn, kwargs = CASES[task]
    from_generator = fn(64, seed=np.random.default_rng(7), **kwargs)
    np.testing.assert_array_equal(from_generator.inputs, a.inputs)


def test_selective_copy_positions_are_random_and_the_layout_is_exact():
    b = recall.selective_copy(200, n_memorize=3, n_noise=9, n_symbols=4, seed=1)
    assert b.inputs.shape == (200, 9 + 2 * 3)
    data_at = (b.inputs[:, :12] != 0)
    assert (data_at.sum(1) == 3).all()  # exactly M data tokens among the noise
    first = data_at.argmax(1)
    assert len(np.unique(first)) > 5  # where the data sit changes from row to row
    assert (data_at.mean(0) > 0.1).all()  # every context position is sometimes data


def test_induction_heads_first_occurrence_is_anywhere():
    b = recall.induction_heads(300, seq_len=10, n_symbols=3, seed=2)
    first = (b.inputs[:, :-1] == 3).argmax(1)
    assert set(first) == set(range(8))  # p = 0 .. T-3


def test_mqar_queries_distinct_keys():
    b = recall.mqar(50, n_pairs=5, n_queries=5, n_keys=5, n_values=3, seed=3)
    queries = b.inputs[:, 10::2]
    assert all(sorted(q) == sorted(c) for q, c in zip(queries, b.inputs[:, :10:2]))


def test_only_answer_positions_carry_loss():
    """GPT's loss with for_gpt targets equals the cross-entropy averaged over the mask only,
    and does not move when the targets elsewhere change."""
    b = make("selective-copy", batch=3)
    vocab = recall.vocab_size("selective-copy", **CASES["selective-copy"][1])
    model = GPT(GPTConfig(vocab_size=vocab, block_size=b.inputs.shape[1], n_layer=1, n_head=1,
                          d_model=8), seed=0)
    logits, loss = model(b.inputs, recall.for_gpt(b.targets, b.mask))
    z = logits.data.astype(np.float64)
    logp = z - np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True)) \
        - z.max(-1, keepdims=True)
    want = -np.take_along_axis(logp, b.targets[..., None], -1)[..., 0][b.mask].mean()
    assert loss.item() == pytest.approx(want, rel=1e-5)
    other = np.where(b.mask, b.targets, (b.targets + 1) % vocab)
    np.testing.assert_array_equal(recall.for_gpt(other, b.mask), recall.for_gpt(b.targets, b.mask))
    assert (recall.for_gpt(b.targets, b.mask)[~b.mask] == recall.IGNORE).all()


def test_accuracy_counts_answer_positions_only():
    b = make("copy", batch=4)
    pred = np.where(b.mask, b.targets, 99)  # wrong everywhere that is not scored
    assert recall.accuracy(pred, b.targets, b.mask) == (1.0, 1.0)
    pred[0, np.flatnonzero(b.mask[0])[0]] += 1  # one wrong answer in row 0
    token, seq = recall.accuracy(pred, b.targets, b.mask)
    assert token == pytest.approx(1 - 1 / b.mask.sum()) and seq == 0.75
    onehot = np.eye(100)[pred]  # logits (B, T, vocab) give the same numbers
    assert recall.accuracy(onehot, b.targets, b.mask) == (token, seq)


@pytest.mark.parametrize("call, match", [
    (lambda: recall.selective_copy(2, n_memorize=0), "n_memorize"),
    (lambda: recall.induction_heads(2, seq_len=2), "seq_len"),
    (lambda: recall.mqar(2, n_pairs=5, n_keys=4), "n_keys"),
    (lambda: recall.mqar(2, n_pairs=3, n_queries=4), "n_queries 4"),
    (lambda: recall.copy(2, length=0), "length"),
    (lambda: recall.copy(2, seed="x"), "seed"),
    (lambda: recall.vocab_size("nope"), "accepted: selective-copy"),
])
def test_bad_arguments_name_the_value(call, match):
    with pytest.raises((ValueError, TypeError, KeyError), match=match):
        call()
