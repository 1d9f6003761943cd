"""Random-automaton prompts and the in-context n-gram models, against brute force."""

import numpy as np
import pytest

from minitx.icl.ngram import NGramLM, in_context_ngram, ngram_head
from minitx.models import GPTConfig
from minitx.tasks import regular_languages as rl


def _prompts(seed=0, batch=20, length=60, **kw):
    opts = dict(n_states=4, n_symbols=5, max_out=3, min_len=1, max_len=6)
    opts.update(kw)
    return rl.make_prompts(batch, length, np.random.default_rng(seed), **opts)


def test_every_string_is_accepted_and_states_follow_the_automaton():
    p = _prompts()
    D = p.delimiter
    for b in range(20):
        strings = p.strings(b)
        assert len(strings) >= 5 and all(1 <= len(s) <= 6 for s in strings)
        assert all(p.automata.accepts(b, s) for s in strings)
        state, count = 0, 0
        for t in range(1, p.tokens.shape[1]):  # replay the prompt through delta by hand
            tok = p.tokens[b, t]
            if tok == D:
                state, count = 0, count + 1
            else:
                assert p.automata.delta[b, state, tok] >= 0
                state = p.automata.delta[b, state, tok]
            assert p.states[b, t] == state and p.string_index[b, t] == count


def test_automata_shape_out_degree_and_rejection():
    auto = rl.random_automata(50, 6, 5, np.random.default_rng(1), min_out=2, max_out=3)
    degree = auto.allowed.sum(-1)
    assert auto.delta.shape == (50, 6, 5) and degree.min() == 2 and degree.max() == 3
    assert auto.delta.max() < 6
    b, s = np.argwhere(~auto.allowed[:, 0, :])[0]  # a symbol with no edge from the start
    assert not auto.accepts(b, [s])


def test_mixed_degree_gives_each_automaton_its_own_cap():
    auto = rl.random_automata(300, 5, 6, np.random.default_rng(2), min_out=1, max_out=4,
                              mixed_degree=True)
    top = auto.allowed.sum(-1).max(-1)  # the largest out-degree of each automaton
    assert top.min() == 1 and top.max() == 4 and len(np.unique(top)) == 4
    flat = rl.random_automata(300, 5, 6, np.random.default_rng(2), min_out=1, max_out=4)
    assert np.mean(flat.allowed.sum(-1).max(-1) == 1) < np.mean(top == 1)


def test_same_seed_same_prompts():
    a, b, c = _prompts(3), _prompts(3), _prompts(4)
    np.testing.assert_array_equal(a.tokens, b.tokens)
    assert not np.array_equal(a.tokens, c.tokens)
    inputs, targets = a.inputs_targets()
    np.testing.assert_array_equal(inputs[:, 1:], targets[:, :-1])


def test_true_distribution_and_scores():
    p = _prompts(5)
    q = rl.true_next_distribution(p)
    np.testing.assert_allclose(q.sum(-1), 1.0)
    # every symbol that really came next (inside a string) has positive probability
    inputs, targets = p.inputs_targets()
    inside = targets != p.delimiter
    assert np.all(np.take_along_axis(q, np.minimum(targets, 4)[..., None], -1)[..., 0][inside] > 0)
    perfect = np.concatenate([q, np.zeros(q.shape[:2] + (1,))], -1)
    s = rl.scores(perfect, p)
    assert np.all(s["accuracy"] == 1) and np.allclose(s["tvd"], 0)
    wrong = np.concatenate([(q == 0) / np.maximum((q == 0).sum(-1, keepdims=True), 1),
                            np.zeros(q.shape[:2] + (1,))], -1)
    has_forbidden = (q == 0).any(-1)
    assert np.all(rl.scores(wrong, p)["accuracy"][has_forbidden] == 0)
    assert np.allclose(rl.scores(wrong, p)["tvd"][has_forbidden], 1.0)


def test_bad_options_name_the_value():
    with pytest.raises(ValueError, match="max_out"):
        rl.random_automata(2, 3, 4, np.random.default_rng(0), max_out=5)
    with pytest.raises(ValueError, match="min_len"):
        _prompts(min_len=0)
    with pytest.raises(ValueError, match="tokens must lie"):
        in_context_ngram(np.array([[0, 9]]), 2, 5)


def _brute_ngram(seq, t, n, vocab, alpha):
    """p(next | prefix seq[0..t]) by counting in Python, backing off as documented."""
    prefix = list(seq[:t + 1])
    for m in range(min(n - 1, t + 1), 0, -1):
        ctx = prefix[t - m + 1:]
        follow = [prefix[j] for j in range(m, t + 1) if prefix[j - m:j] == ctx]
        if follow:
            return np.array([(follow.count(a) + alpha) / (len(follow) + alpha * vocab)
                             for a in range(vocab)])
    return np.array([(prefix.count(a) + alpha) / (len(prefix) + alpha * vocab)
                     for a in range(vocab)])


@pytest.mark.parametrize("n", [1, 2, 3])
def test_in_context_ngram_matches_brute_force(n):
    tokens = np.random.default_rng(n).integers(0, 3, (3, 25))
    probs = in_context_ngram(tokens, n, 3, alpha=0.5)
    for b in range(3):
        for t in range(25):
            np.testing.assert_allclose(probs[b, t], _brute_ngram(tokens[b], t, n, 3, 0.5))


def test_ngram_head_is_the_unsmoothed_count():
    tokens = np.array([[0, 1, 2, 0, 1, 0, 1, 1]])
    head = ngram_head(tokens, 2, 3)
    np.testing.assert_allclose(head[0, 4], [0, 0, 1])          # the earlier "1" was followed by 2
    np.testing.assert_allclose(head[0, 6], [1 / 2, 0, 1 / 2])  # "1" was followed by 2 and 0
    np.testing.assert_allclose(head[0, 2], [0, 0, 0])          # "2" never seen before


def test_ngram_lm_is_causal_and_trains():
    model = NGramLM(GPTConfig(vocab_size=4, block_size=12, n_layer=1, n_head=2, d_model=16))
    ids = np.random.default_rng(0).integers(0, 4, (2, 12))
    logits = model(ids).data
    changed = ids.copy()
    changed[:, 8:] = (changed[:, 8:] + 1) % 4
    np.testing.assert_allclose(model(changed).data[:, :8], logits[:, :8], rtol=1e-5, atol=1e-5)
    _, loss = model(ids, ids)
    loss.backward()
    grad = model.ngram_proj.weight.grad
    assert grad is not None and np.abs(grad).sum() > 0
