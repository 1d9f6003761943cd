"""STree speculative tree decoding: the tree pass with forked states gives, at every node, the
target's logits after the root-to-node path (checked against a full forward); decoding gives
exactly the target's greedy tokens for several seeds, tree shapes and drafts; and with an
agreeing draft it needs fewer target calls than tokens."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from minitx import mixers
from minitx.models.gpt import GPT, GPTConfig
from minitx.models.stree import (NGramDraft, _draft_tree, _prefill, greedy_decode, score_tree,
                                 stree_decode)


def model(mixer, seed, d_model=16, n_layer=2, **opts):
    cfg = GPTConfig(vocab_size=11, block_size=40, n_layer=n_layer, n_head=2, d_model=d_model,
                    mixer=mixer, mixer_options=opts)
    return GPT(cfg, seed=seed).double()


def sharpen(m):
    """Scale the embeddings so logits are far from ties and greedy paths vary with position
    (a random tiny model otherwise repeats one token, and any draft agrees)."""
    m.tok_emb.weight.data *= 8.0
    m.pos_emb.weight.data *= 30.0
    return m


def plain_greedy(m, prompt, n_new):
    """Greedy decoding by the parallel form: a full forward per token."""
    return [int(t) for t in m.generate(np.array([prompt]), n_new, temperature=0).data[0]]


@pytest.mark.parametrize("mixer,opts", [("mamba", {"d_state": 4}), ("s4d", {"d_state": 8})])
def test_tree_pass_equals_full_forward_at_every_node(mixer, opts):
    target = sharpen(model(mixer, 0, **opts))
    draft = sharpen(model(mixer, 1, d_model=8, n_layer=1, **opts))
    prompt = [3, 1, 4, 1, 5]
    levels, _ = _draft_tree(draft, _prefill(draft, prompt), prompt[-1], len(prompt) - 1, (3, 2))
    scored = score_tree(target, _prefill(target, prompt), prompt[-1], len(prompt) - 1, levels)
    paths = [[]]  # root-to-node token paths per depth
    for depth, (tokens, parents) in enumerate(levels, start=1):
        node_paths = [paths[p] + [int(t)] for t, p in zip(tokens, parents)]
        for i, path in enumerate(node_paths):
            full = target(np.array([prompt + path])).data[0, -1]
            np.testing.assert_allclose(scored[depth][0][i], full, rtol=1e-9, atol=1e-10)
        paths = node_paths
    assert len(levels[1][0]) == 6  # 3 children, each with 2


@pytest.mark.parametrize("seed,tree", [(0, (1, 1, 1)), (1, (2, 2)), (2, (3, 1, 1)),
                                       (3, (2, 2, 2, 1))])
def test_output_identical_to_plain_greedy(seed, tree):
    target = sharpen(model("mamba", 10 + seed, d_state=4))
    draft = sharpen(model("mamba", 20 + seed, d_model=8, n_layer=1, d_state=4))
    prompt = list(np.random.default_rng(seed).integers(0, 11, 4))
    want = plain_greedy(target, prompt, 14)
    got, stats = stree_decode(target, draft, prompt, 14, tree)
    assert got == want
    assert greedy_decode(target, prompt, 14)[0] == want
    assert len(set(want[4:])) >= 4  # a varied continuation, not one repeated token
    assert min(stats.accepted) < len(tree) + 1  # some draft tokens were rejected
    assert stats.target_passes < 14 and sum(stats.accepted) == 14


@pytest.mark.parametrize("mixer,tree", [("mamba", (2, 2, 1)), ("s4d", (1, 1, 1, 1))])
def test_agreeing_draft_needs_fewer_target_calls_than_tokens(mixer, tree):
    opts = {"d_state": 4}
    target = sharpen(model(mixer, 5, **opts))
    draft = copy.deepcopy(target)  # the same weights: the draft always agrees
    prompt = [2, 7, 1]
    got, stats = stree_decode(target, draft, prompt, 15, tree)
    assert got == plain_greedy(target, prompt, 15)
    depth = len(tree)
    assert stats.target_passes == -(-15 // (depth + 1)) < 15
    assert greedy_decode(target, prompt, 15)[1].target_passes == 15


def test_ngram_draft_ranks_continuations_by_count_then_recency():
    ctx = [1, 2, 5, 1, 2, 7, 1, 2, 5, 3, 1, 2]
    assert NGramDraft(3).children(ctx, 2) == [5, 7]  # (1, 2) -> 5 twice, 7 once
    assert NGramDraft(3).children([4, 2, 9, 2], 3) == [9]  # (9, 2) unseen: back off to (2,)
    assert NGramDraft(3).children([4, 5, 6], 3) == []
    levels = NGramDraft(3).propose([1, 2, 5, 1, 2, 7, 1], (2, 1))
    assert [list(t) for t, _ in levels] == [[2], [7]]  # (7, 1) unseen: (1,) -> 2; (1, 2) -> 5
    # or 7 once each: the tie goes to the more recent, 7


@pytest.mark.parametrize("seed,tree", [(0, (1, 1, 1)), (1, (2, 2)), (2, (3, 1, 1))])
def test_ngram_draft_gives_greedy_output(seed, tree):
    varied = sharpen(model("mamba", 30 + seed, d_state=4))
    prompt = list(np.random.default_rng(seed).integers(0, 11, 6))
    got, _ = stree_decode(varied, NGramDraft(3), prompt, 14, tree)
    assert got == plain_greedy(varied, prompt, 14)
    repetitive = model("mamba", 10 + seed, d_state=4)  # settles into repeating tokens
    repetitive.tok_emb.weight.data *= 8.0
    got, stats = stree_decode(repetitive, NGramDraft(3), prompt, 16, tree)
    assert got == plain_greedy(repetitive, prompt, 16)
    assert stats.target_passes < 16  # the n-gram guesses the repetition


def test_bad_input_is_named():
    no_step = [n for n in mixers.names() if not hasattr(mixers.get(n), "step")
               and getattr(mixers.get(n), "causal_capable", True)][0]
    target = model(no_step, 0)
    with pytest.raises(ValueError, match="recurrent step"):
        stree_decode(target, target, [1, 2], 3)
    m = model("mamba", 0, d_state=4)
    with pytest.raises(ValueError, match="tree"):
        stree_decode(m, m, [1, 2], 3, tree=(2, 0))
