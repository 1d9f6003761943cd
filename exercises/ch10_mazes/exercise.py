"""Exercise set 10, mazes: make them, solve them, write them as tokens, mask them.

Chapter 10 trains transformers to walk mazes ("Transformers Can Navigate Mazes With
Multi-Step Prediction", Nolte et al., 2024). Here you build the pieces underneath:
a maze generator (randomised depth-first search), breadth-first search, a path
checker, the grid tokeniser, and the training targets of the two objectives compared
in the chapter -- next-token prediction and MLM-U.

Replace each `raise NotImplementedError(...)` with your code, then run
`minitx grade ch10` and read the hints of the failing tests. Keep the names and the
signatures.

Conventions, as in minitx.tasks.mazes: an n x n maze has cells (r, c), row r from the
top, column c from the left, and two boolean arrays of passages:
    right (n, n-1)   right[r, c]: open between (r, c) and (r, c+1)
    down  (n-1, n)   down[r, c]:  open between (r, c) and (r+1, c)
Cells are given as pairs (r, c); a path is an (L, 2) int array of cells, start first.
Tokens (minitx.tasks.maze_tokens): PAD 0, MASK 1, PATH 3, END 4, a cell's open sides
5 + bits (N=1, E=2, S=4, W=8), the cell (r, c) itself 21 + r*n + c; -100 marks a
position the loss ignores.
"""

import numpy as np  # noqa: F401  (for your code)

PAD, MASK, PATH, END, WALL0, CELL0, IGNORE = 0, 1, 3, 4, 5, 21, -100


def wall_bits(right, down):
    """(n, n) int array: for each cell, the sum of 1 (open north), 2 (open east),
    4 (open south), 8 (open west). The outer border is always closed.
    Example: the 2x2 maze right = [[True], [False]], down = [[True, True]] gives
    [[6, 12], [1, 1]]: (0,0) opens east and south (2 + 4), (0,1) west and south (8 + 4),
    (1,0) and (1,1) only north (1).
    """
    raise NotImplementedError("start from zeros((n, n), int); add 2 where right is open on "
                              "the left cell, 8 on the right cell; same for down with 4 and 1")


def dfs_maze(n, rng):
    """A perfect n x n maze by randomised depth-first search; returns (right, down).

    Start at a random cell, visited = {start}, stack = [start]. While the stack is not
    empty: look at the top cell's unvisited grid neighbours; if there are none, pop;
    otherwise pick one at random (use rng, a numpy Generator), open the passage to it,
    mark it visited and push it. The same rng state must give the same maze.
    """
    raise NotImplementedError("keep a stack; at each step list the top's unvisited neighbours "
                              "with rng.integers(len(options)) to choose, or pop if none")


def bfs_distances(right, down, start):
    """(n, n) int array: the number of moves from start to each cell along open
    passages (0 at start), -1 where a cell cannot be reached. The passages may form
    cycles here: do not assume a perfect maze.
    """
    raise NotImplementedError("a queue (collections.deque) from start; a cell's distance is "
                              "set the first time it is reached, from the cell being expanded")


def shortest_path(right, down, start, goal):
    """(L, 2) int array: a shortest path of cells from start to goal, both included
    (L - 1 moves). Raise ValueError if goal cannot be reached. Any shortest path is
    accepted where there are several.
    """
    raise NotImplementedError("BFS from start remembering each cell's parent; then walk "
                              "parents back from goal and reverse")


def check_paths(right, down, start, goal, paths):
    """(len(paths), 2) bool array: row i is [valid, optimal] for paths[i].

    valid:   non-empty, first cell == start, last cell == goal, and every step moves to
             a grid neighbour through an open passage (revisits and detours are allowed);
    optimal: valid and exactly as many cells as a shortest path.
    paths is a list of (L_i, 2) int arrays (L_i may be 0).
    """
    raise NotImplementedError("a step (r, c) -> (r2, c2) is open if they differ by one in one "
                              "coordinate and right/down at the smaller index is True")


def encode_grid(right, down, start, goal, path):
    """The grid-format token sequence of one problem, int64 of length 2 n^2 + 4:

        5 + wall_bits (n^2 values, row by row), cell(start), cell(goal), PATH,
        cell(p) for each cell p of path, END, then PAD up to the full length,
    with cell((r, c)) = 21 + r * n + c.
    """
    raise NotImplementedError("concatenate the prompt (n^2 + 3 tokens) and the answer (path "
                              "cells + END) into np.full(2 * n * n + 4, PAD)")


def next_token_targets(seqs, n):
    """Next-token training pair from grid-format sequences seqs (N, T):
    inputs = seqs[:, :-1]; targets = seqs[:, 1:], except -100 (IGNORE) where the
    target is part of the prompt (the first n^2 + 2 target positions: prompt tokens
    after the first, up to and including PATH) and where the target is PAD.
    Returns (inputs, targets), both (N, T - 1).
    """
    raise NotImplementedError("copy seqs[:, 1:]; set targets[:, :n * n + 2] and targets == PAD "
                              "to IGNORE")


def mlmu_mask(answer, rate, draws):
    """MLM-U inputs and targets for the answer regions answer (N, A) (path cells, END, PAD),
    given the per-row masking rates rate (N, 1) and uniform draws (N, A):

        hidden  = draws < rate, on non-PAD tokens only
        inputs  = MASK where hidden or PAD, the answer token elsewhere
        targets = the answer token where hidden, IGNORE (-100) elsewhere
    Returns (inputs, targets), both (N, A).
    """
    raise NotImplementedError("hidden = (draws < rate) & (answer != PAD); then two np.where")
