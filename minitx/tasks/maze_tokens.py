"""Mazes as token sequences, the two training objectives' batches, and maze pictures.

Paper: "Transformers Can Navigate Mazes With Multi-Step Prediction" (Nolte et al., 2024).
The paper writes a maze as an adjacency list of cell tokens, then the start, the goal
and the path (the ``maze-dataset`` "AOTP" format).  Both layouts are here:

    vocabulary (grid size n; V = 21 + n*n tokens)
        0 PAD   filler after END            1 MASK  a hidden token (MLM-U only)
        2 SEP   ';' ends an edge (adjlist)  3 PATH  the path starts next
        4 END   the path ended
        5 + b   a grid cell whose open sides are the bits b (N=1, E=2, S=4, W=8), b < 16
        21 + r*n + c   the cell (r, c) as a coordinate

    fmt="grid"     (compact, the default for CPU budgets: n^2 maze tokens)
        wall(0,0) wall(0,1) ... wall(n-1,n-1)  start goal PATH  p_1 ... p_L END PAD ...
    fmt="adjlist"  (the paper's layout: 3 (n^2 - 1) maze tokens)
        a_1 b_1 SEP  a_2 b_2 SEP ...           start goal PATH  p_1 ... p_L END PAD ...

The answer region after PATH always has n^2 + 1 slots (the longest possible path, then
END), so every sequence of a grid size has the same length T = prompt + n^2 + 1.

Objectives (same sequences, same model, only the training mask differs):
    next-token   causal model; predict token t+1 from tokens <= t; scored on path + END.
    MLM-U        bidirectional model; per sequence draw a rate u ~ U(0, 1), hide each
                 path/END token with probability u (at least one), and predict the hidden
                 ones from everything visible -- steps ahead *and* behind.  The maze
                 prompt is never hidden, PAD slots are always hidden and never scored
                 (so the path length is not given away), as in the authors' code.
"""

from __future__ import annotations

import numpy as np

from .mazes import Maze, Problem

PAD, MASK, SEP, PATH, END = 0, 1, 2, 3, 4
WALL0, CELL0 = 5, 21
IGNORE = -100
FORMATS = ("grid", "adjlist")


def vocab_size(n: int) -> int:
    return CELL0 + n * n


def cell_token(cell, n: int) -> int:
    return CELL0 + cell[0] * n + cell[1]


def prompt_length(n: int, fmt: str = "grid") -> int:
    """Tokens up to and including PATH."""
    _check_fmt(fmt)
    return (n * n if fmt == "grid" else 3 * (n * n - 1)) + 3


def seq_length(n: int, fmt: str = "grid") -> int:
    return prompt_length(n, fmt) + n * n + 1


def _check_fmt(fmt):
    if fmt not in FORMATS:
        raise ValueError(f"maze_tokens: unknown format {fmt!r} (accepted: {', '.join(FORMATS)})")


def wall_bits(maze: Maze) -> np.ndarray:
    """(n, n) int: open sides of every cell, N=1, E=2, S=4, W=8."""
    n, bits = maze.n, np.zeros((maze.n, maze.n), np.int64)
    bits[1:, :] |= maze.down * 1      # north side of rows 1.. is the down passage above
    bits[:, :-1] |= maze.right * 2
    bits[:-1, :] |= maze.down * 4
    bits[:, 1:] |= maze.right * 8
    return bits.reshape(n, n)


def maze_tokens(maze: Maze, fmt: str = "grid", rng=None) -> np.ndarray:
    """The maze part of the prompt.  For "adjlist" an ``rng`` shuffles the edge order and
    each edge's direction (the paper's lists are unordered); without one, raster order."""
    _check_fmt(fmt)
    n = maze.n
    if fmt == "grid":
        return WALL0 + wall_bits(maze).ravel()
    edges = maze.edges()
    if rng is not None:
        edges = [edges[i] for i in rng.permutation(len(edges))]
        edges = [(b, a) if rng.random() < 0.5 else (a, b) for a, b in edges]
    return np.array([t for a, b in edges for t in (cell_token(a, n), cell_token(b, n), SEP)])


def encode(problem: Problem, fmt: str = "grid", rng=None) -> np.ndarray:
    """One problem -> (T,) int64 tokens: maze, start, goal, PATH, path, END, PAD..."""
    n = problem.maze.n
    head = [*maze_tokens(problem.maze, fmt, rng), cell_token(problem.start, n),
            cell_token(problem.goal, n), PATH]
    answer = [cell_token(c, n) for c in problem.path] + [END]
    seq = np.full(seq_length(n, fmt), PAD, np.int64)
    seq[:len(head) + len(answer)] = head + answer
    return seq


def encode_batch(problems, fmt: str = "grid", rng=None) -> np.ndarray:
    """(N, T) tokens for a list of problems of one grid size."""
    return np.stack([encode(p, fmt, rng) for p in problems])


def decode_path(answer, n: int) -> list:
    """Answer tokens (after PATH) -> the cells before the first non-cell token (END)."""
    cells = []
    for t in np.asarray(answer).tolist():
        if not CELL0 <= t < CELL0 + n * n:
            break
        cells.append(divmod(t - CELL0, n))
    return cells


# ----- the two objectives' training batches -------------------------------------------

def next_token_batch(seqs: np.ndarray, n: int, fmt: str = "grid"):
    """(inputs, targets), each (N, T-1): targets are the inputs shifted by one, scored only
    where the next token is a path cell or END."""
    inputs, targets = seqs[:, :-1].copy(), seqs[:, 1:].copy()
    targets[:, :prompt_length(n, fmt) - 1] = IGNORE  # predicting the maze prompt is not asked
    targets[targets == PAD] = IGNORE
    return inputs, targets


def hide_answer(answer: np.ndarray, rate: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """MLM-U's mask from given random numbers: a real (non-PAD) answer token is hidden when
    its uniform draw is below its row's rate.  answer, draws (N, A); rate (N, 1)."""
    return (draws < rate) & (answer != PAD)


def mlmu_batch(seqs: np.ndarray, n: int, fmt: str, rng: np.random.Generator):
    """(inputs, targets), each (N, T): MLM-U masking of the answer region (see module doc)."""
    P = prompt_length(n, fmt)
    answer = seqs[:, P:]                                   # (N, n^2 + 1)
    real = answer != PAD
    rate = rng.random((len(seqs), 1))                      # u ~ U(0, 1), one per sequence
    hide = hide_answer(answer, rate, rng.random(answer.shape))
    none = ~hide.any(1)
    if none.any():  # hide one random real token where nothing was hidden
        for i in np.nonzero(none)[0]:
            hide[i, rng.choice(np.nonzero(real[i])[0])] = True
    inputs, targets = seqs.copy(), np.full_like(seqs, IGNORE)
    inputs[:, P:] = np.where(hide | ~real, MASK, answer)
    targets[:, P:] = np.where(hide, answer, IGNORE)
    return inputs, targets


# ----- pictures --------------------------------------------------------------------------

def render_ascii(maze: Maze, start=None, goal=None, path=()) -> str:
    """Text picture: S start, G goal, * path cells; walls drawn with + - |."""
    n, on_path = maze.n, {tuple(c) for c in path}
    mark = {tuple(start): "S"} if start is not None else {}
    if goal is not None:
        mark[tuple(goal)] = "G"
    lines = ["+" + "---+" * n]
    for r in range(n):
        row, below = "|", "+"
        for c in range(n):
            ch = mark.get((r, c), "*" if (r, c) in on_path else " ")
            row += f" {ch} " + (" " if c < n - 1 and maze.right[r, c] else "|")
            below += ("   " if r < n - 1 and maze.down[r, c] else "---") + "+"
        lines += [row, below]
    return "\n".join(lines)


def draw_maze(ax, maze: Maze, start=None, goal=None, path=(), color="tab:blue", title=None):
    """Draw walls, start (green), goal (red) and a path on a matplotlib Axes."""
    n = maze.n
    segs = [((0, 0), (n, 0)), ((0, n), (n, n)), ((0, 0), (0, n)), ((n, 0), (n, n))]
    for r in range(n):
        for c in range(n - 1):
            if not maze.right[r, c]:
                segs.append(((c + 1, r), (c + 1, r + 1)))
    for r in range(n - 1):
        for c in range(n):
            if not maze.down[r, c]:
                segs.append(((c, r + 1), (c + 1, r + 1)))
    for (x0, y0), (x1, y1) in segs:
        ax.plot([x0, x1], [y0, y1], color="black", lw=2, solid_capstyle="round")
    if len(path):
        ax.plot([c + 0.5 for _, c in path], [r + 0.5 for r, _ in path], color=color, lw=2.5,
                alpha=0.8)
    for cell, col in ((start, "tab:green"), (goal, "tab:red")):
        if cell is not None:
            ax.scatter([cell[1] + 0.5], [cell[0] + 0.5], s=80, color=col, zorder=3)
    ax.set_xlim(-0.1, n + 0.1)
    ax.set_ylim(n + 0.1, -0.1)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    return ax
