"""Decoding maze paths from trained models, and scoring paths (used by the ``mazes`` experiment).

    next-token   greedy: append argmax of the last position until every row wrote END
                 (one forward per path token; the whole prefix is re-read each time)
    MLM-U        the answer region starts all MASK;
                 "left-to-right": fill slot i with the argmax at slot i, one slot per
                 forward pass, later slots still hidden -- the decoding of the authors' code;
                 "one-shot": fill every slot from a single forward pass;
                 "confident": any order, one slot per forward pass, always the hidden
                 slot the model is surest of (largest softmax probability), so a path can
                 grow from its known end (the goal) as well as its start; slots after a
                 written END are closed.
"""

from __future__ import annotations

import numpy as np

from ..autograd.function import no_grad
from ..tasks import maze_tokens as mt
from ..tasks import mazes


MLMU_DECODINGS = ("left-to-right", "one-shot", "confident")


def _logits(model, ids):
    return model(ids).data


@no_grad()
def solve_next_token(model, problems, fmt: str = "grid") -> list:
    """Greedy left-to-right generation with a causal model -> one cell list per problem."""
    n = problems[0].maze.n
    P = mt.prompt_length(n, fmt)
    ids = mt.encode_batch(problems, fmt)[:, :P]              # (N, P) the prompts
    done = np.zeros(len(problems), bool)
    for _ in range(n * n + 1):
        nxt = _logits(model, ids)[:, -1].argmax(-1)          # (N,)
        nxt = np.where(done, mt.PAD, nxt)
        ids = np.concatenate([ids, nxt[:, None]], axis=1)    # (N, t + 1)
        done |= nxt == mt.END
        if done.all():
            break
    return [mt.decode_path(row[P:], n) for row in ids]


@no_grad()
def solve_mlmu(model, problems, fmt: str = "grid", mode: str = "left-to-right") -> list:
    """Fill the hidden answer region with a bidirectional model -> one cell list per problem."""
    if mode not in MLMU_DECODINGS:
        raise ValueError(f"solve_mlmu: mode must be one of {MLMU_DECODINGS}, got {mode!r}")
    n = problems[0].maze.n
    P = mt.prompt_length(n, fmt)
    ids = mt.encode_batch(problems, fmt)
    ids[:, P:] = mt.MASK                                     # (N, T) answer hidden
    if mode == "one-shot":
        ids[:, P:] = _logits(model, ids)[:, P:].argmax(-1)
        return [mt.decode_path(row[P:], n) for row in ids]
    if mode == "confident":
        return _fill_most_confident_first(model, ids, P, n)
    done = np.zeros(len(problems), bool)
    for i in range(P, ids.shape[1]):
        pred = _logits(model, ids)[:, i].argmax(-1)          # (N,)
        ids[:, i] = np.where(done, mt.MASK, pred)
        done |= pred == mt.END
        if done.all():
            break
    return [mt.decode_path(row[P:], n) for row in ids]


def _fill_most_confident_first(model, ids, P, n):
    rows = np.arange(len(ids))
    slot = np.arange(ids.shape[1] - P)[None, :]                  # (1, A)
    closed_from = np.full(len(ids), ids.shape[1] - P)            # slots >= this are done
    for _ in range(ids.shape[1] - P):
        open_ = (ids[:, P:] == mt.MASK) & (slot < closed_from[:, None])  # (N, A)
        if not open_.any():
            break
        z = _logits(model, ids)[:, P:].astype(np.float64)        # (N, A, V)
        best = z.argmax(-1)                                      # (N, A)
        others = np.exp(z - z.max(-1, keepdims=True))
        np.put_along_axis(others, best[..., None], 0.0, axis=-1)
        log_p_best = -np.log1p(others.sum(-1))  # log softmax of the argmax, exact near 1
        j = np.where(open_, log_p_best, -np.inf).argmax(1)       # (N,) the slot to fill
        pick = best[rows, j]
        todo = open_.any(1)
        ids[rows[todo], P + j[todo]] = pick[todo]
        ended = todo & (pick == mt.END)
        closed_from[ended] = np.minimum(closed_from[ended], j[ended])
    return [mt.decode_path(row[P:], n) for row in ids]


def path_scores(problems, paths) -> dict:
    """Fractions of problems solved exactly (= the BFS path, the optimal one in a perfect
    maze) and validly (start -> goal through open passages, detours allowed)."""
    exact = [list(map(tuple, p)) == pr.path for pr, p in zip(problems, paths)]
    valid = [mazes.is_valid_path(pr.maze, p, pr.start, pr.goal) for pr, p in zip(problems, paths)]
    return {"exact": float(np.mean(exact)), "valid": float(np.mean(valid))}


def random_walk_scores(problems, seed: int) -> dict:
    """The no-learning baseline: a random walk (no immediate U-turns) of at most n^2 - 1
    moves, i.e. at most the n^2 cells a model may write."""
    rng = np.random.default_rng(seed)
    n = problems[0].maze.n
    paths = [mazes.random_walk_path(p.maze, p.start, p.goal, rng, n * n - 1) for p in problems]
    return path_scores(problems, paths)
