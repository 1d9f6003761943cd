"""Routing Transformer: cluster assignment by cosine to the centroids, attention restricted
to the own cluster (plus self), online k-means pulling centroids towards their members,
decoding equal to the parallel form."""

import numpy as np

import minitx
from minitx import mixers
from minitx.mixers.sparse import routing as rt


def build(**options):
    minitx.manual_seed(0)
    return mixers.build("routing", d_model=8, n_heads=2, **options).double()


def test_mixer_equals_softmax_inside_clusters():
    m = build(n_clusters=3).eval()
    x = minitx.tensor(np.random.default_rng(0).standard_normal((2, 10, 8)), dtype="float64")
    B, T, C = x.shape
    q, k, v = (a.reshape(B, T, 2, 4).transpose(0, 2, 1, 3) for a in np.split(m.qkv(x).data, 3, -1))
    cq, ck = rt.assign(q, m.centroids), rt.assign(k, m.centroids)
    want = np.zeros_like(q)
    for b in range(B):
        for h in range(2):
            for i in range(T):
                seen = [j for j in range(i + 1) if cq[b, h, i] == ck[b, h, j] or j == i]
                s = np.array([q[b, h, i] @ k[b, h, j] / 2.0 for j in seen])
                p = np.exp(s - s.max())
                want[b, h, i] = (p / p.sum()) @ v[b, h, seen]
    y = want.transpose(0, 2, 1, 3).reshape(B, T, C)
    np.testing.assert_allclose(m(x).data, m.out(minitx.tensor(y, dtype="float64")).data,
                               atol=1e-12)


def test_online_kmeans_moves_centroids_towards_their_members():
    rng = np.random.default_rng(1)
    centroids = rt.unit(rng.standard_normal((1, 2, 3)))
    target = rt.unit(np.array([1.0, 1.0, 0.0]))
    vectors = np.tile(target, (20, 1, 1)) + 0.01 * rng.standard_normal((20, 1, 3))
    clusters = rt.assign(vectors.transpose(1, 0, 2)[None], centroids)[0].T  # (20, 1)
    chosen = clusters[0, 0]
    before = centroids[0, chosen] @ target
    for _ in range(50):
        centroids = rt.kmeans_update(centroids, vectors, clusters, decay=0.8)
    assert centroids[0, chosen] @ target > max(before, 0.99)
    np.testing.assert_allclose(np.linalg.norm(centroids, axis=-1), 1.0)


def test_training_updates_centroids_and_eval_does_not():
    m = build(n_clusters=2)
    x = minitx.tensor(np.random.default_rng(2).standard_normal((2, 8, 8)), dtype="float64")
    before = m.centroids.copy()
    m.eval()
    m(x)
    np.testing.assert_array_equal(m.centroids, before)
    m.train()
    m(x)
    assert not np.allclose(m.centroids, before)
    np.testing.assert_array_equal(m.state_dict()["centroids"], m.centroids)
