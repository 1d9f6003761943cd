"""Reference for ch10_mazes (mazes and two ways to learn them): each function calls the library.

Mazes arrive as two boolean arrays, ``right`` (n, n-1) and ``down`` (n-1, n), the
fields of ``minitx.tasks.mazes.Maze``; generation, BFS and path checks are that
module's, the tokens and both objectives' batches are ``minitx.tasks.maze_tokens``'.
The functions do not call one another, so a planted bug in one stays in that one.
"""

import numpy as np

from minitx.tasks import maze_tokens as mt
from minitx.tasks import mazes


def _maze(right, down):
    right, down = np.asarray(right, bool), np.asarray(down, bool)
    return mazes.Maze(right.shape[0], right, down)


def wall_bits(right, down):
    return mt.wall_bits(_maze(right, down))


def dfs_maze(n, rng):
    maze = mazes.generate_dfs(n, rng)
    return maze.right, maze.down


def bfs_distances(right, down, start):
    maze = _maze(right, down)
    out = np.full((maze.n, maze.n), -1, dtype=np.int64)
    for (r, c), d in mazes.bfs_distances(maze, tuple(start)).items():
        out[r, c] = d
    return out


def shortest_path(right, down, start, goal):
    return np.array(mazes.shortest_path(_maze(right, down), start, goal), dtype=np.int64)


def check_paths(right, down, start, goal, paths):
    maze, start, goal = _maze(right, down), tuple(start), tuple(goal)
    return np.array([[mazes.is_valid_path(maze, [tuple(c) for c in p], start, goal),
                      mazes.is_optimal_path(maze, [tuple(c) for c in p], start, goal)]
                     for p in paths], dtype=bool).reshape(len(paths), 2)


def encode_grid(right, down, start, goal, path):
    maze = _maze(right, down)
    problem = mazes.Problem(maze, tuple(start), tuple(goal), [tuple(c) for c in path])
    return mt.encode(problem, "grid")


def next_token_targets(seqs, n):
    return mt.next_token_batch(np.asarray(seqs), n, "grid")


def mlmu_mask(answer, rate, draws):
    answer = np.asarray(answer)
    hide = mt.hide_answer(answer, rate, draws)
    inputs = np.where(hide | (answer == mt.PAD), mt.MASK, answer)
    targets = np.where(hide, answer, mt.IGNORE)
    return inputs, targets
