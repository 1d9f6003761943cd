"""STree: speculative decoding with a token *tree*, verified by a state-space target in one
pass whose recurrent states branch where the tree branches.

Paper: "STree: Speculative Tree Decoding for Hybrid State-Space Models" (2025). Speculative
decoding lets a cheap draft propose tokens that the expensive target checks together; trees
(several candidates per position) accept more tokens per check than a single chain, but an
SSM target has no attention mask to score a tree in one pass. STree's observation: an SSM's
state after a tree node is the state after its parent, advanced by one token, so the tree can
be scored by forking the states at each branch (the paper builds this into the scan with
accumulated transition matrices; here it is done level by level with batched ``step`` calls).

One round of ``stree_decode`` (greedy, so the output is exactly the target's greedy output):
  1. draft the tree: the draft model, from its state, expands each node at depth j into the
     ``tree[j]`` tokens it ranks highest (children of the root are candidates for the next
     token after the pending one);
  2. verify: ONE target pass over the tree, level by level: the nodes of depth j are a batch
     whose states are gathered from their parents' states (the fork), so each node's logits
     are the target's prediction after the root-to-node path;
  3. accept: walk down from the root while the target's greedy token is a child of the
     current node; the target's greedy token at the stop node is accepted too (the bonus);
  4. the new states are the target's and draft's states at the stop node (a gather, no
     recomputation); the bonus token is the new pending (not yet fed) token.

The draft is a smaller GPT (its states are forked like the target's) or ``NGramDraft``, a
model-free drafter that proposes the continuations seen most often after the current suffix.

Cost: a round costs one target pass of depth + 1 batched steps over (number of tree nodes)
tokens, and yields between 1 and depth + 1 tokens. Works for any GPT whose mixers have
``init_state``/``step`` (mamba, s4d, plstm, ...), with learned positions (so positions must
stay below ``block_size``).

Glossary (code -> paper):
    tree          branching factors per depth, e.g. (2, 2, 1): the tree's shape
    pending       the last accepted token, not yet fed to the models
    levels        per depth: token ids, parent indices, states, logits (the token tree)
    target_passes verification rounds (each one "target call" in the paper's sense)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..autograd.function import no_grad
from ..autograd.tensor import Tensor

__all__ = ["init_states", "step", "gather", "score_tree", "greedy_decode", "stree_decode",
           "DecodeStats", "NGramDraft"]


def _check_steppable(model):
    for i, block in enumerate(model.blocks):
        if not hasattr(block.mixer, "step"):
            raise ValueError(f"stree: block {i}'s mixer {type(block.mixer).__name__} has no "
                             "recurrent step; accepted: mixers with init_state/step "
                             "(mamba, s4d, plstm, ...)")


def init_states(model, batch):
    """One recurrent state per block, for ``batch`` sequences."""
    _check_steppable(model)
    return [block.mixer.init_state(batch) for block in model.blocks]


def _map(fn, state):
    """Apply fn to every array in a nested state (dicts, lists, tuples); ints stay."""
    if isinstance(state, dict):
        return {k: _map(fn, v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_map(fn, v) for v in state)
    if isinstance(state, Tensor):
        return fn(state.data)
    if isinstance(state, np.ndarray):
        return fn(state)
    return state


def gather(states, index):
    """Rows ``index`` of every state array: the fork (index repeats a parent for each child)
    and the selection of one tree node."""
    index = np.asarray(index)
    return _map(lambda a: a[index], states)


@no_grad()
def step(model, ids, pos, states):
    """Feed ids (B,) at position ``pos`` through every block: -> (logits (B, vocab), states).
    For decoding: dropout is not applied."""
    if pos >= model.config.block_size:
        raise ValueError(f"stree: position {pos} exceeds the model's block_size "
                         f"{model.config.block_size}")
    x = model.tok_emb(np.asarray(ids)) + model.pos_emb(np.array([pos]))  # (B, C)
    new = []
    for block, s in zip(model.blocks, states):
        x, s = block.step(x, s)
        new.append(_map(lambda a: a, s))  # tensors -> arrays
    return model._logits(model.norm(x)).data, new


@dataclass
class DecodeStats:
    target_passes: int = 0      # calls of the target: one per token (greedy) or per tree
    target_steps: int = 0       # batched step invocations of the target (depth + 1 per tree)
    target_tokens: int = 0      # tokens the target processed (tree nodes count one each)
    draft_steps: int = 0
    accepted: list = field(default_factory=list)  # tokens gained per round


def _prefill(model, prompt):
    """States after all prompt tokens but the last (which becomes the pending token)."""
    states = init_states(model, 1)
    for pos, tok in enumerate(prompt[:-1]):
        _, states = step(model, [tok], pos, states)
    return states


def greedy_decode(model, prompt, n_new):
    """Plain greedy decoding with the recurrent form: one target call per new token."""
    prompt = [int(t) for t in prompt]
    states, out, stats = _prefill(model, prompt), list(prompt), DecodeStats()
    for _ in range(n_new):
        logits, states = step(model, [out[-1]], len(out) - 1, states)
        stats.target_passes += 1
        stats.target_steps += 1
        stats.target_tokens += 1
        out.append(int(logits[0].argmax()))
    return out, stats


def score_tree(model, states, pending, pos, levels):
    """Run the tree through ``model`` level by level with forked states.

    levels: list over depth j >= 1 of (tokens (n_j,), parents (n_j,) indices into depth j-1).
    Depth 0 is the pending token alone. Returns per depth (logits (n_j, vocab), states)."""
    logits, states = step(model, [pending], pos, states)
    out = [(logits, states)]
    for j, (tokens, parents) in enumerate(levels, start=1):
        logits, states = step(model, tokens, pos + j, gather(out[-1][1], parents))
        out.append((logits, states))
    return out


def _draft_tree(draft, states, pending, pos, tree):
    """Expand the tree with the draft: -> levels [(tokens, parents)] and the draft's per-depth
    (logits, states) for every node (leaves included, to keep the draft in sync)."""
    levels = []
    logits, st = step(draft, [pending], pos, states)
    scored = [(logits, st)]
    for j, width in enumerate(tree, start=1):
        ranked = np.argsort(-scored[-1][0], axis=-1, kind="stable")[:, :width]  # (n_{j-1}, w)
        parents = np.repeat(np.arange(ranked.shape[0]), width)
        tokens = ranked.reshape(-1)  # (n_{j-1} w,)
        levels.append((tokens, parents))
        logits, st = step(draft, tokens, pos + j, gather(scored[-1][1], parents))
        scored.append((logits, st))
    return levels, scored


def _accept(levels, scored):
    """Walk down while the target's greedy token is a child: -> (tokens, depth, node)."""
    node, accepted = 0, []
    for depth in range(len(scored)):
        best = int(scored[depth][0][node].argmax())
        accepted.append(best)
        if depth == len(levels):
            break
        tokens, parents = levels[depth]
        match = np.flatnonzero((parents == node) & (tokens == best))
        if match.size == 0:
            break
        node = int(match[0])
    return accepted, len(accepted) - 1, node


class NGramDraft:
    """A model-free draft: after the context (..., a, b) it proposes the tokens that followed
    (a, b) most often so far in the prompt and output (n = 3), backing off to shorter
    suffixes; ties go to the most recent. A node may get fewer than ``width`` children."""

    def __init__(self, n=3):
        if int(n) < 2:
            raise ValueError(f"NGramDraft: n must be >= 2, got {n}")
        self.n = int(n)

    def children(self, context, width):
        for size in range(self.n - 1, 0, -1):  # the longest suffix that occurred before
            suffix, counts = context[-size:], {}
            for i in range(len(context) - size):
                if context[i:i + size] == suffix:
                    nxt = context[i + size]
                    counts[nxt] = (counts.get(nxt, (0, 0))[0] + 1, i)  # (count, last seen)
            if counts:
                ranked = sorted(counts, key=lambda t: counts[t], reverse=True)
                return ranked[:width]
        return []

    def propose(self, context, tree):
        """-> levels [(tokens, parents)] of a tree grown from ``context`` (pending included)."""
        levels, paths = [], [[]]
        for width in tree:
            tokens, parents, new_paths = [], [], []
            for p, path in enumerate(paths):
                for tok in self.children(context + path, width):
                    tokens.append(tok)
                    parents.append(p)
                    new_paths.append(path + [tok])
            if not tokens:
                break
            levels.append((np.array(tokens), np.array(parents)))
            paths = new_paths
        return levels


def stree_decode(target, draft, prompt, n_new, tree=(2, 2, 1)):
    """Greedy speculative tree decoding: the same tokens as ``greedy_decode(target, ...)``,
    with one target call per round instead of per token. ``draft`` is a GPT with recurrent
    mixers (its states are forked like the target's) or an ``NGramDraft``."""
    tree = tuple(int(w) for w in tree)
    if not tree or min(tree) < 1:
        raise ValueError(f"stree: tree must be a non-empty tuple of positive widths, got {tree}")
    prompt = [int(t) for t in prompt]
    model_draft = not isinstance(draft, NGramDraft)
    t_states = _prefill(target, prompt)
    d_states = _prefill(draft, prompt) if model_draft else None
    out, stats = list(prompt), DecodeStats()
    target_len = len(prompt) + n_new
    while len(out) < target_len:
        pos = len(out) - 1  # position of the pending token
        room = target.config.block_size - 1 - pos
        if model_draft:
            room = min(room, draft.config.block_size - 1 - pos)
        shape = tree[:max(0, min(room, target_len - len(out) - 1))]
        if model_draft:
            levels, d_scored = _draft_tree(draft, d_states, out[-1], pos, shape)
            stats.draft_steps += len(shape) + 1
        else:
            levels = draft.propose(out, shape)
        t_scored = score_tree(target, t_states, out[-1], pos, levels)
        stats.target_passes += 1
        stats.target_steps += len(levels) + 1
        stats.target_tokens += 1 + sum(len(tok) for tok, _ in levels)
        accepted, depth, node = _accept(levels, t_scored)
        t_states = gather(t_scored[depth][1], [node])
        if model_draft:
            d_states = gather(d_scored[depth][1], [node])
        accepted = accepted[:target_len - len(out)]
        stats.accepted.append(len(accepted))
        out.extend(accepted)
    return out, stats
