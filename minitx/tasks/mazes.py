"""Mazes on an n x n grid: generation, the BFS shortest-path oracle, path checking, splits.

Paper: "Transformers Can Navigate Mazes With Multi-Step Prediction" (Nolte, Kitouni,
Williams, Rabbat, Ibrahim, 2024) trains transformers on DFS-generated mazes to output
the shortest path from a start cell to a goal cell.  This module makes such mazes;
``minitx.tasks.maze_tokens`` turns them into token sequences and pictures.

A maze is a *perfect* maze: its open passages form a spanning tree of the grid graph
(every cell reachable, no cycles, so exactly n*n - 1 passages and exactly one simple
path between any two cells -- which is then also the shortest one).

    cells      (r, c), 0 <= r, c < n; cell id = r * n + c
    right      (n, n-1) bool: passage between (r, c) and (r, c+1)
    down       (n-1, n) bool: passage between (r, c) and (r+1, c)

Generators (each O(n^2), seeded by a numpy Generator):
    "dfs"      randomised depth-first search (recursive backtracker): long corridors,
               few branches -- the paper's maze type
    "kruskal"  randomised Kruskal: shuffle all walls, knock one down when it joins two
               components (union-find): many short dead ends
    "wilson"   Wilson's algorithm (loop-erased random walks): a *uniform* random
               spanning tree
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

ALGORITHMS = ("dfs", "kruskal", "wilson")
_MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))  # N, E, S, W


@dataclass(frozen=True, eq=False)
class Maze:
    n: int
    right: np.ndarray  # (n, n-1) bool
    down: np.ndarray   # (n-1, n) bool

    def is_open(self, a, b) -> bool:
        """Is there a passage between neighbouring cells a = (r, c) and b?"""
        (r1, c1), (r2, c2) = a, b
        if not all(0 <= x < self.n for x in (r1, c1, r2, c2)):
            return False  # the outer wall
        if r1 == r2 and abs(c1 - c2) == 1:
            return bool(self.right[r1, min(c1, c2)])
        if c1 == c2 and abs(r1 - r2) == 1:
            return bool(self.down[min(r1, r2), c1])
        return False

    def neighbours(self, cell) -> list:
        """Open neighbours of ``cell`` in N, E, S, W order."""
        r, c = cell
        out = []
        for dr, dc in _MOVES:
            nb = (r + dr, c + dc)
            if 0 <= nb[0] < self.n and 0 <= nb[1] < self.n and self.is_open(cell, nb):
                out.append(nb)
        return out

    def edges(self) -> list:
        """Every passage as a pair of cells ((r, c), (r', c')), in raster order."""
        out = [((r, c), (r, c + 1)) for r, c in zip(*np.nonzero(self.right))]
        out += [((r, c), (r + 1, c)) for r, c in zip(*np.nonzero(self.down))]
        return sorted((tuple(map(int, a)), tuple(map(int, b))) for a, b in out)

    def key(self) -> bytes:
        """A hashable fingerprint of the passages (equal mazes, equal keys)."""
        return np.packbits(np.concatenate([self.right.ravel(), self.down.ravel()])).tobytes() \
            + bytes([self.n])


def _check_n(n):
    if not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"mazes: grid size n must be an int >= 2, got {n!r}")


def _empty(n):
    return Maze(int(n), np.zeros((n, n - 1), bool), np.zeros((n - 1, n), bool))


def _open(maze, a, b):
    (r1, c1), (r2, c2) = a, b
    if r1 == r2:
        maze.right[r1, min(c1, c2)] = True
    else:
        maze.down[min(r1, r2), c1] = True


def _grid_neighbours(n, cell):
    r, c = cell
    return [(r + dr, c + dc) for dr, dc in _MOVES if 0 <= r + dr < n and 0 <= c + dc < n]


def generate_dfs(n, rng) -> Maze:
    """Randomised DFS: walk to a random unvisited neighbour, backtrack at dead ends."""
    maze, start = _empty(n), (int(rng.integers(n)), int(rng.integers(n)))
    visited, stack = {start}, [start]
    while stack:
        fresh = [nb for nb in _grid_neighbours(n, stack[-1]) if nb not in visited]
        if not fresh:
            stack.pop()
            continue
        nxt = fresh[int(rng.integers(len(fresh)))]
        _open(maze, stack[-1], nxt)
        visited.add(nxt)
        stack.append(nxt)
    return maze


def generate_kruskal(n, rng) -> Maze:
    """Randomised Kruskal: walls in random order; remove one if it joins two trees."""
    maze, parent = _empty(n), list(range(n * n))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i
    walls = [((r, c), (r, c + 1)) for r in range(n) for c in range(n - 1)]
    walls += [((r, c), (r + 1, c)) for r in range(n - 1) for c in range(n)]
    for i in rng.permutation(len(walls)):
        a, b = walls[i]
        ra, rb = root(a[0] * n + a[1]), root(b[0] * n + b[1])
        if ra != rb:
            parent[ra] = rb
            _open(maze, a, b)
    return maze


def generate_wilson(n, rng) -> Maze:
    """Wilson: from each cell not yet in the tree, random-walk until the tree is hit,
    erase loops (keep only the last exit from each cell), add that path."""
    maze = _empty(n)
    cells = [(r, c) for r in range(n) for c in range(n)]
    in_tree = {cells[int(rng.integers(n * n))]}
    for cell in (cells[i] for i in rng.permutation(n * n)):
        exit_to, cur = {}, cell
        while cur not in in_tree:  # the walk; exit_to keeps the latest exit only
            nbs = _grid_neighbours(n, cur)
            exit_to[cur] = nbs[int(rng.integers(len(nbs)))]
            cur = exit_to[cur]
        cur = cell
        while cur not in in_tree:  # follow the loop-erased path into the tree
            _open(maze, cur, exit_to[cur])
            in_tree.add(cur)
            cur = exit_to[cur]
    return maze


_GENERATORS = {"dfs": generate_dfs, "kruskal": generate_kruskal, "wilson": generate_wilson}


def generate(n, rng, algorithm: str = "dfs") -> Maze:
    """A perfect n x n maze by ``algorithm`` (one of ALGORITHMS); rng: numpy Generator."""
    _check_n(n)
    if algorithm not in _GENERATORS:
        raise ValueError(f"mazes: unknown algorithm {algorithm!r} "
                         f"(accepted: {', '.join(ALGORITHMS)})")
    return _GENERATORS[algorithm](int(n), rng)


def is_perfect(maze: Maze) -> bool:
    """Spanning tree check: all n^2 cells connected and exactly n^2 - 1 passages."""
    n = maze.n
    if len(maze.edges()) != n * n - 1:
        return False
    return len(bfs_distances(maze, (0, 0))) == n * n


def bfs_distances(maze: Maze, source) -> dict:
    """{cell: number of moves from source} for every reachable cell."""
    dist, queue = {tuple(source): 0}, deque([tuple(source)])
    while queue:
        cell = queue.popleft()
        for nb in maze.neighbours(cell):
            if nb not in dist:
                dist[nb] = dist[cell] + 1
                queue.append(nb)
    return dist


def shortest_path(maze: Maze, start, goal) -> list:
    """Breadth-first search: the shortest list of cells from start to goal (both included).
    O(n^2).  Raises ValueError if goal cannot be reached."""
    start, goal = tuple(map(int, start)), tuple(map(int, goal))
    for cell in (start, goal):
        if not all(0 <= x < maze.n for x in cell):
            raise ValueError(f"mazes: cell {cell} is outside the {maze.n}x{maze.n} grid")
    parent, queue = {start: None}, deque([start])
    while queue:
        cell = queue.popleft()
        if cell == goal:
            break
        for nb in maze.neighbours(cell):
            if nb not in parent:
                parent[nb] = cell
                queue.append(nb)
    if goal not in parent:
        raise ValueError(f"mazes: goal {goal} is not reachable from {start}")
    path, cell = [], goal
    while cell is not None:
        path.append(cell)
        cell = parent[cell]
    return path[::-1]


def is_valid_path(maze: Maze, path, start, goal) -> bool:
    """A valid path starts at start, ends at goal, and each move is to an open neighbour.
    (It may wander or revisit cells; an *optimal* one is also as short as BFS's.)"""
    path = [tuple(map(int, p)) for p in path]
    if not path or path[0] != tuple(start) or path[-1] != tuple(goal):
        return False
    return all(maze.is_open(a, b) for a, b in zip(path, path[1:]))


def is_optimal_path(maze: Maze, path, start, goal) -> bool:
    """Valid and exactly as many moves as the BFS shortest path."""
    return is_valid_path(maze, path, start, goal) and \
        len(path) == len(shortest_path(maze, start, goal))


@dataclass(frozen=True, eq=False)
class Problem:
    """One navigation problem: a maze, a start and a goal, and the BFS shortest path."""
    maze: Maze
    start: tuple
    goal: tuple
    path: list

    def key(self) -> bytes:
        return self.maze.key() + bytes([*self.start, *self.goal])


def make_problem(n, rng, algorithm: str = "dfs") -> Problem:
    """A random maze and two distinct random cells, with the shortest path between them."""
    maze = generate(n, rng, algorithm)
    a, b = rng.choice(n * n, size=2, replace=False)
    start, goal = (int(a // n), int(a % n)), (int(b // n), int(b % n))
    return Problem(maze, start, goal, shortest_path(maze, start, goal))


def make_splits(n, n_train: int, n_test: int, seed: int, algorithm: str = "dfs"):
    """(train, test) lists of distinct Problems with no problem in both.  Train problems
    come from Generator([seed, 0]), test problems from Generator([seed, 1]); repeats
    (likely on small grids) are skipped.  Raises if the grid has too few problems."""
    if n_train < 0 or n_test < 0:
        raise ValueError(f"mazes: n_train and n_test must be >= 0, got {n_train}, {n_test}")
    seen, splits = set(), []
    for part, size in enumerate((n_train, n_test)):
        rng, items, tries = np.random.default_rng([seed, part]), [], 0
        while len(items) < size:
            tries += 1
            if tries > 20 * size + 1000:
                raise ValueError(f"mazes: could not find {size} distinct {n}x{n} problems; "
                                 "ask for fewer")
            p = make_problem(n, rng, algorithm)
            if p.key() not in seen:
                seen.add(p.key())
                items.append(p)
        splits.append(items)
    return splits[0], splits[1]


def random_walk_path(maze: Maze, start, goal, rng, max_steps: int) -> list:
    """A baseline 'solver': from start, step to a random open neighbour, not straight back
    unless at a dead end, until goal or max_steps moves.  Returns the cells visited."""
    path, prev = [tuple(start)], None
    while path[-1] != tuple(goal) and len(path) <= max_steps:
        nbs = maze.neighbours(path[-1])
        choices = [c for c in nbs if c != prev] or nbs
        prev = path[-1]
        path.append(choices[int(rng.integers(len(choices)))])
    return path
