"""Graded tests of set ch10_mazes: mazes, BFS, path checks, tokens and the two objectives.

Each test compares the graded function with the reference (minitx itself) on seeded
random mazes -- perfect ones and grids with cycles or unreachable cells -- and checks a
property against a definition written here: a generated maze is a spanning tree
(n^2 - 1 passages, every cell reached), a path found by BFS is valid and as short as
exhaustive search, masks hide only what they should. A test calls only the function
it grades.
"""

import numpy as np
import pytest

from minitx.grading import load_exercise, load_reference
from minitx.grading.checks import assert_close, unpack

ex = load_exercise(__file__)    # exercise.py, or the reference under --solution;
ref = load_reference(__file__)  # the reference, for expected values.
# Use ex.<name> only inside tests: ex loads on first use, so a learner's broken file
# costs each test rather than the whole set.

MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))
PAD = 0


def random_graph(n, rng, p=0.65):
    """Passages open at random: cycles and unreachable cells are likely."""
    return rng.random((n, n - 1)) < p, rng.random((n - 1, n)) < p


def tree(n, seed):
    from minitx.tasks import mazes
    m = mazes.generate(n, np.random.default_rng(seed), "kruskal")
    return m.right, m.down


def is_open(right, down, a, b):
    n = right.shape[0]
    (r1, c1), (r2, c2) = a, b
    if not all(0 <= x < n for x in (r1, c1, r2, c2)):
        return False
    if r1 == r2 and abs(c1 - c2) == 1:
        return bool(right[r1, min(c1, c2)])
    if c1 == c2 and abs(r1 - r2) == 1:
        return bool(down[min(r1, r2), c1])
    return False


def reached(right, down, start=(0, 0)):
    n, seen, todo = right.shape[0], {start}, [start]
    while todo:
        r, c = todo.pop()
        for dr, dc in MOVES:
            nb = (r + dr, c + dc)
            if nb not in seen and is_open(right, down, (r, c), nb):
                seen.add(nb)
                todo.append(nb)
    return len(seen)


def brute_shortest(right, down, start, goal):
    """Cells in the shortest simple path, by trying every simple path (tiny grids only)."""
    best = [None]

    def walk(cell, seen):
        if cell == goal:
            best[0] = len(seen) if best[0] is None else min(best[0], len(seen))
            return
        for dr, dc in MOVES:
            nb = (cell[0] + dr, cell[1] + dc)
            if nb not in seen and is_open(right, down, cell, nb):
                walk(nb, seen | {nb})
    walk(start, {start})
    return best[0]


@pytest.fixture
def rng():
    return np.random.default_rng(10)


# ----- wall bits -------------------------------------------------------------------------

@pytest.mark.points(1)
def test_wall_bits_example():
    got = ex.wall_bits(np.array([[True], [False]]), np.array([[True, True]]))
    assert_close(got, np.array([[6, 12], [1, 1]]), "wall_bits(2x2 example)")


@pytest.mark.points(2)
@pytest.mark.parametrize("n", [2, 3, 6])
def test_wall_bits_matches_reference(rng, n):
    right, down = random_graph(n, rng)
    assert_close(ex.wall_bits(right, down), ref.wall_bits(right, down), f"wall_bits ({n}x{n})")


# ----- DFS generator ---------------------------------------------------------------------

@pytest.mark.points(3)
@pytest.mark.parametrize("n", [2, 4, 7])
def test_dfs_maze_is_a_spanning_tree(n):
    for seed in range(6):
        right, down = unpack(ex.dfs_maze(n, np.random.default_rng(seed)), 2, "dfs_maze")
        right, down = np.asarray(right, bool), np.asarray(down, bool)
        assert right.shape == (n, n - 1) and down.shape == (n - 1, n), \
            f"dfs_maze({n}): shapes {right.shape}, {down.shape}; " \
            f"expected {(n, n - 1)}, {(n - 1, n)}"
        passages = int(right.sum() + down.sum())
        assert passages == n * n - 1, f"dfs_maze({n}): {passages} passages, a tree has {n * n - 1}"
        assert reached(right, down) == n * n, f"dfs_maze({n}): not every cell is reachable"


@pytest.mark.points(1)
def test_dfs_maze_seed_decides():
    a = ex.dfs_maze(6, np.random.default_rng(3))
    b = ex.dfs_maze(6, np.random.default_rng(3))
    c = ex.dfs_maze(6, np.random.default_rng(4))
    assert all(np.array_equal(x, y) for x, y in zip(a, b)), "same rng seed, different mazes"
    assert not all(np.array_equal(x, y) for x, y in zip(a, c)), "different seeds, same maze"


@pytest.mark.points(1)
def test_dfs_maze_digs_corridors():
    """Depth-first mazes have far fewer dead ends than Kruskal's."""
    def dead_ends(right, down):
        openings = (ref.wall_bits(right, down)[..., None] >> np.arange(4)) & 1  # (n, n, 4)
        return int((openings.sum(-1) == 1).sum())
    dfs = np.mean([dead_ends(*ex.dfs_maze(8, np.random.default_rng(s))) for s in range(12)])
    kruskal = np.mean([dead_ends(*tree(8, s)) for s in range(12)])
    assert dfs < 0.75 * kruskal, f"dfs_maze: {dfs:.1f} dead ends on average, Kruskal {kruskal:.1f}"


# ----- BFS -------------------------------------------------------------------------------

@pytest.mark.points(3)
@pytest.mark.parametrize("n", [2, 4, 6])
def test_bfs_distances_matches_reference(rng, n):
    for _ in range(4):
        right, down = random_graph(n, rng)
        start = (int(rng.integers(n)), int(rng.integers(n)))
        assert_close(ex.bfs_distances(right, down, start), ref.bfs_distances(right, down, start),
                     f"bfs_distances from {start}")


@pytest.mark.points(2)
def test_shortest_path_in_perfect_mazes_is_the_unique_path():
    for seed in range(5):
        right, down = tree(5, seed)
        start, goal = (0, seed % 5), (4, (3 * seed) % 5)
        assert_close(ex.shortest_path(right, down, start, goal),
                     ref.shortest_path(right, down, start, goal), f"shortest_path {start}->{goal}")


@pytest.mark.points(2)
def test_shortest_path_with_cycles_is_valid_and_shortest(rng):
    for _ in range(12):
        right, down = random_graph(3, rng, p=0.8)
        start, goal = (0, 0), (int(rng.integers(3)), int(rng.integers(1, 3)))
        best = brute_shortest(right, down, start, goal)
        if best is None:
            with pytest.raises(ValueError):
                ex.shortest_path(right, down, start, goal)
            continue
        path = np.asarray(ex.shortest_path(right, down, start, goal))
        assert path.shape == (best, 2), f"shortest_path {start}->{goal}: shape {path.shape}, " \
            f"a shortest path has {best} cells"
        assert tuple(path[0]) == start and tuple(path[-1]) == goal, "wrong end points"
        assert all(is_open(right, down, tuple(a), tuple(b)) for a, b in zip(path, path[1:])), \
            "shortest_path steps through a wall"


# ----- path checks -----------------------------------------------------------------------

@pytest.mark.points(3)
def test_check_paths_matches_reference():
    right, down = tree(5, 7)
    start, goal = (0, 0), (4, 4)
    best = ref.shortest_path(right, down, start, goal)
    side = next((i, nb) for i, c in enumerate(best.tolist()) for dr, dc in MOVES
                for nb in [(c[0] + dr, c[1] + dc)]
                if is_open(right, down, tuple(c), nb) and list(nb) not in best.tolist())
    i, nb = side
    detour = np.concatenate([best[:i + 1], [nb], best[i:]])
    jump = np.array([start, goal])
    walled = np.array([[0, 0], [0, 1]]) if not right[0, 0] else np.array([[0, 0], [1, 0]])
    paths = [best, detour, best[:-1], best[1:], np.zeros((0, 2), int), jump, walled,
             best[::-1], np.concatenate([best, best[-2:]])]
    assert_close(ex.check_paths(right, down, start, goal, paths),
                 ref.check_paths(right, down, start, goal, paths), "check_paths [valid, optimal]")


# ----- tokens ----------------------------------------------------------------------------

@pytest.mark.points(3)
@pytest.mark.parametrize("n", [2, 3, 5])
def test_encode_grid_matches_reference(n):
    for seed in range(3):
        right, down = tree(n, seed)
        start, goal = (0, 0), (n - 1, seed % n)
        path = ref.shortest_path(right, down, start, goal)
        assert_close(ex.encode_grid(right, down, start, goal, path),
                     ref.encode_grid(right, down, start, goal, path), f"encode_grid ({n}x{n})")


# ----- the two objectives ----------------------------------------------------------------

def _sequences(n, count):
    rows = []
    for seed in range(count):
        right, down = tree(n, seed)
        start, goal = (seed % n, 0), (n - 1, n - 1)
        rows.append(ref.encode_grid(right, down, start, goal,
                                    ref.shortest_path(right, down, start, goal)))
    return np.stack(rows)


@pytest.mark.points(2)
def test_next_token_targets_matches_reference():
    seqs = _sequences(4, 5)
    got = unpack(ex.next_token_targets(seqs, 4), 2, "next_token_targets")
    for g, e, name in zip(got, ref.next_token_targets(seqs, 4), ("inputs", "targets")):
        assert_close(g, e, f"next_token_targets: {name}")


@pytest.mark.points(3)
def test_mlmu_mask_matches_reference(rng):
    n = 4
    answer = _sequences(n, 6)[:, n * n + 3:]
    rate, draws = rng.random((6, 1)), rng.random(answer.shape)
    got = unpack(ex.mlmu_mask(answer, rate, draws), 2, "mlmu_mask")
    for g, e, name in zip(got, ref.mlmu_mask(answer, rate, draws), ("inputs", "targets")):
        assert_close(g, e, f"mlmu_mask: {name}")


@pytest.mark.points(1)
def test_mlmu_mask_extreme_rates():
    answer = _sequences(3, 4)[:, 12:]
    draws = np.random.default_rng(0).random(answer.shape)
    inputs, targets = unpack(ex.mlmu_mask(answer, np.zeros((4, 1)), draws), 2, "mlmu_mask")
    assert_close(inputs, np.where(answer == PAD, 1, answer), "mlmu_mask(rate 0): inputs")
    inputs, targets = unpack(ex.mlmu_mask(answer, np.ones((4, 1)), draws), 2, "mlmu_mask")
    assert_close(inputs, np.ones_like(answer), "mlmu_mask(rate 1): inputs")
    assert_close(targets, np.where(answer == PAD, -100, answer), "mlmu_mask(rate 1): targets")

