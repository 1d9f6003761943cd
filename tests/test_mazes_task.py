"""Maze generation, the BFS oracle, path checks, splits, tokens and pictures."""

import itertools

import numpy as np
import pytest

from minitx.tasks import maze_tokens as mt
from minitx.tasks import mazes


def _no_cycles(maze):
    """Union-find over the passages: a passage joining two already-joined cells is a cycle."""
    n = maze.n
    parent = list(range(n * n))

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i
    for a, b in maze.edges():
        ra, rb = root(a[0] * n + a[1]), root(b[0] * n + b[1])
        if ra == rb:
            return False
        parent[ra] = rb
    return True


def _brute_force_shortest(maze, start, goal):
    """Length (in cells) of the shortest simple path, by enumerating every simple path."""
    best = [None]

    def walk(path, seen):
        if path[-1] == goal:
            best[0] = len(path) if best[0] is None else min(best[0], len(path))
            return
        for nb in maze.neighbours(path[-1]):
            if nb not in seen:
                walk(path + [nb], seen | {nb})
    walk([start], {start})
    return best[0]


def _random_graph_maze(n, rng, p=0.7):
    """Not a maze generator: each passage open with probability p (cycles allowed)."""
    return mazes.Maze(n, rng.random((n, n - 1)) < p, rng.random((n - 1, n)) < p)


@pytest.mark.parametrize("algorithm", mazes.ALGORITHMS)
@pytest.mark.parametrize("n", [2, 3, 5, 8])
def test_generated_mazes_are_spanning_trees(algorithm, n):
    rng = np.random.default_rng(n)
    for _ in range(5):
        maze = mazes.generate(n, rng, algorithm)
        assert len(maze.edges()) == n * n - 1
        assert len(mazes.bfs_distances(maze, (0, 0))) == n * n  # connected
        assert _no_cycles(maze)
        assert mazes.is_perfect(maze)


def test_is_perfect_rejects_cycles_and_islands():
    n = 3
    full = mazes.Maze(n, np.ones((n, n - 1), bool), np.ones((n - 1, n), bool))
    assert not mazes.is_perfect(full)  # 12 passages: cycles
    rng = np.random.default_rng(0)
    tree = mazes.generate(n, rng)
    cut = mazes.Maze(n, tree.right.copy(), tree.down.copy())
    (a, b) = tree.edges()[0]
    if a[0] == b[0]:
        cut.right[a[0], a[1]] = False
    else:
        cut.down[a[0], a[1]] = False
    assert not mazes.is_perfect(cut)  # one passage fewer: two pieces


def test_bfs_equals_brute_force_on_graphs_with_cycles():
    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(30):
        maze = _random_graph_maze(3, rng)
        start, goal = (0, 0), (int(rng.integers(3)), int(rng.integers(1, 3)))
        brute = _brute_force_shortest(maze, start, goal)
        if brute is None:
            with pytest.raises(ValueError, match="not reachable"):
                mazes.shortest_path(maze, start, goal)
            continue
        path = mazes.shortest_path(maze, start, goal)
        assert len(path) == brute and mazes.is_valid_path(maze, path, start, goal)
        checked += 1
    assert checked > 10


def test_bfs_path_is_the_unique_simple_path_in_a_perfect_maze():
    rng = np.random.default_rng(2)
    for _ in range(10):
        p = mazes.make_problem(4, rng)
        assert len(p.path) == _brute_force_shortest(p.maze, p.start, p.goal)
        assert mazes.is_optimal_path(p.maze, p.path, p.start, p.goal)


def test_validity_checker_rejects_bad_paths():
    rng = np.random.default_rng(3)
    p = mazes.make_problem(5, rng)
    m, s, g = p.maze, p.start, p.goal
    assert mazes.is_valid_path(m, p.path, s, g)
    assert not mazes.is_valid_path(m, [], s, g)
    assert not mazes.is_valid_path(m, p.path[1:], s, g)          # wrong start
    assert not mazes.is_valid_path(m, p.path[:-1], s, g)         # stops short
    assert not mazes.is_valid_path(m, [s, g], s, g) or m.is_open(s, g)  # a jump
    walled = next((a, b) for a in itertools.product(range(5), repeat=2)
                  for b in [(a[0], a[1] + 1), (a[0] + 1, a[1])]
                  if max(b) < 5 and not m.is_open(a, b))
    assert not mazes.is_valid_path(m, [walled[0], walled[1]], walled[0], walled[1])  # a wall
    # a detour into a side passage and back is valid but not optimal
    side = next((c, nb) for c in p.path for nb in m.neighbours(c) if nb not in p.path)
    i = p.path.index(side[0])
    detour = p.path[:i + 1] + [side[1], side[0]] + p.path[i + 1:]
    assert mazes.is_valid_path(m, detour, s, g)
    assert not mazes.is_optimal_path(m, detour, s, g)


def test_seeds_are_deterministic_and_matter():
    for alg in mazes.ALGORITHMS:
        a = mazes.generate(6, np.random.default_rng(7), alg)
        b = mazes.generate(6, np.random.default_rng(7), alg)
        c = mazes.generate(6, np.random.default_rng(8), alg)
        assert a.key() == b.key() and a.key() != c.key()


def test_splits_are_disjoint_and_deterministic():
    train, test = mazes.make_splits(3, 400, 100, seed=0)
    keys_train, keys_test = {p.key() for p in train}, {p.key() for p in test}
    assert len(keys_train) == 400 and len(keys_test) == 100
    assert not keys_train & keys_test
    again, _ = mazes.make_splits(3, 400, 100, seed=0)
    assert [p.key() for p in again] == [p.key() for p in train]
    with pytest.raises(ValueError, match="distinct"):
        mazes.make_splits(2, 60, 0, seed=0)  # a 2x2 grid has 4 trees x 12 pairs = 48


def test_wilson_samples_spanning_trees_uniformly():
    """The 2x2 grid has 4 spanning trees (drop one of the 4 passages of the square)."""
    rng = np.random.default_rng(4)
    counts = {}
    for _ in range(2000):
        k = mazes.generate(2, rng, "wilson").key()
        counts[k] = counts.get(k, 0) + 1
    assert len(counts) == 4 and all(400 < c < 600 for c in counts.values())


def test_dfs_makes_fewer_dead_ends_than_kruskal():
    """A known difference: the backtracker digs long corridors, Kruskal many stubs."""
    def dead_ends(alg):
        rng = np.random.default_rng(5)
        return np.mean([sum(len(m.neighbours((r, c))) == 1 for r in range(8) for c in range(8))
                        for m in (mazes.generate(8, rng, alg) for _ in range(20))])
    assert dead_ends("dfs") < 0.75 * dead_ends("kruskal")


def test_bad_inputs_name_the_value():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="prim"):
        mazes.generate(4, rng, "prim")
    with pytest.raises(ValueError, match="n must be"):
        mazes.generate(1, rng)
    with pytest.raises(ValueError, match="outside"):
        mazes.shortest_path(mazes.generate(3, rng), (0, 0), (3, 0))
    with pytest.raises(ValueError, match="format"):
        mt.prompt_length(3, "pixels")


@pytest.mark.parametrize("fmt", mt.FORMATS)
def test_tokens_round_trip_and_describe_the_maze(fmt):
    rng = np.random.default_rng(6)
    n = 4
    for _ in range(5):
        p = mazes.make_problem(n, rng)
        seq = mt.encode(p, fmt, rng if fmt == "adjlist" else None)
        P = mt.prompt_length(n, fmt)
        assert seq.shape == (mt.seq_length(n, fmt),)
        assert 0 <= seq.min() and seq.max() < mt.vocab_size(n)
        assert seq[P - 3] == mt.cell_token(p.start, n) and seq[P - 2] == mt.cell_token(p.goal, n)
        assert mt.decode_path(seq[P:], n) == p.path
        assert seq[P + len(p.path)] == mt.END and (seq[P + len(p.path) + 1:] == mt.PAD).all()
        if fmt == "grid":
            bits = seq[:n * n].reshape(n, n) - mt.WALL0
            for r, c in itertools.product(range(n), repeat=2):
                for bit, (dr, dc) in zip((1, 2, 4, 8), ((-1, 0), (0, 1), (1, 0), (0, -1))):
                    assert bool(bits[r, c] & bit) == p.maze.is_open((r, c), (r + dr, c + dc))
        else:
            triples = seq[:P - 3].reshape(-1, 3)
            assert (triples[:, 2] == mt.SEP).all()
            got = sorted(tuple(sorted((divmod(a - mt.CELL0, n), divmod(b - mt.CELL0, n))))
                         for a, b in triples[:, :2])
            assert got == p.maze.edges()


def test_next_token_batch_scores_only_the_path_and_end():
    p = mazes.make_problem(4, np.random.default_rng(7))
    seq = mt.encode(p)[None]
    inputs, targets = mt.next_token_batch(seq, 4)
    np.testing.assert_array_equal(inputs[0], seq[0, :-1])
    scored = targets[0][targets[0] != mt.IGNORE]
    assert scored.tolist() == [mt.cell_token(c, 4) for c in p.path] + [mt.END]


def test_mlmu_batch_hides_only_answer_tokens_at_a_uniform_rate():
    rng = np.random.default_rng(8)
    n, probs = 4, [mazes.make_problem(4, rng) for _ in range(50)]
    seqs = np.concatenate([mt.encode_batch(probs)] * 20)
    inputs, targets = mt.mlmu_batch(seqs, n, "grid", rng)
    P = mt.prompt_length(n)
    np.testing.assert_array_equal(inputs[:, :P], seqs[:, :P])          # prompt visible
    real = seqs[:, P:] != mt.PAD
    hidden = inputs[:, P:] == mt.MASK
    assert (hidden[~real]).all()                                          # PAD slots hidden
    np.testing.assert_array_equal(targets[:, P:] != mt.IGNORE, hidden & real)
    np.testing.assert_array_equal(targets[:, P:][hidden & real], seqs[:, P:][hidden & real])
    np.testing.assert_array_equal(inputs[:, P:][~hidden], seqs[:, P:][~hidden])
    frac = (hidden & real).sum(1) / real.sum(1)                          # ~ U(0, 1) per row
    assert (frac > 0).all() and abs(frac.mean() - 0.5) < 0.05
    assert (frac < 0.25).mean() > 0.15 and (frac > 0.75).mean() > 0.15


def test_ascii_and_matplotlib_pictures():
    p = mazes.make_problem(4, np.random.default_rng(9))
    text = mt.render_ascii(p.maze, p.start, p.goal, p.path)
    lines = text.splitlines()
    assert len(lines) == 9 and text.count("S") == 1 and text.count("G") == 1
    assert text.count("*") == len(p.path) - 2
    gaps = sum(line[4 * c + 4] == " " for line in lines[1::2] for c in range(3)) + \
        sum(line[4 * c + 1:4 * c + 4] == "   " for line in lines[2:-1:2] for c in range(4))
    assert gaps == len(p.maze.edges())  # every passage is a gap in a wall
    from minitx.plotting import pyplot
    plt = pyplot()
    fig, ax = plt.subplots()
    mt.draw_maze(ax, p.maze, p.start, p.goal, p.path)
    walls = 4 + 2 * 4 * 3 - len(p.maze.edges())
    assert len(ax.lines) == walls + 1  # the walls, then the path
    plt.close(fig)
