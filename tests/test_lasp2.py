"""LASP-2 on simulated workers: equal to serial causal linear attention (with and without a
decay, uneven chunks), gradients too; one AllGather whose traffic does not grow with T."""

import numpy as np
import pytest

import minitx
from minitx.mixers.linear import transnormer as tn
from minitx.parallel import lasp2, ring


def serial(q, k, v, lam):
    heads = [minitx.tensor(a.transpose(0, 2, 1, 3), dtype="float64") for a in (q, k, v)]
    return tn.parallel_form(*heads, lam).data.transpose(0, 2, 1, 3)


@pytest.mark.parametrize("P", [1, 2, 3, 5])
@pytest.mark.parametrize("decay", [None, (1.0, 0.9, 0.5)], ids=["plain", "decay"])
def test_equals_serial_linear_attention(P, decay):
    rng = np.random.default_rng(P)
    q, k, v = (rng.standard_normal((2, 11, 3, 4)) for _ in range(3))
    out, _ = lasp2.run(q, k, v, P, decay=decay)
    lam = np.ones(3) if decay is None else np.array(decay)
    np.testing.assert_allclose(out, serial(q, k, v, lam), atol=1e-11)


def test_gradients_equal_serial_gradients():
    rng = np.random.default_rng(9)
    arrays = [rng.standard_normal((1, 9, 2, 3)) for _ in range(3)]
    lam = np.array([0.8, 1.0])
    grads = []
    for parallel in (True, False):
        ts = [minitx.tensor(a, dtype="float64", requires_grad=True) for a in arrays]
        if parallel:
            out, _ = lasp2.run(*ts, P=3, decay=lam)
        else:
            out = tn.parallel_form(*(t.transpose(1, 2) for t in ts), lam).transpose(1, 2)
        (out * out).sum().backward()
        grads.append([t.grad for t in ts])
    for g_par, g_ser in zip(*grads):
        np.testing.assert_allclose(g_par, g_ser, atol=1e-10)


def test_traffic_is_one_all_gather_of_d_by_d_memories_whatever_T():
    B, H, D, P = 1, 2, 4, 4
    volumes = {}
    for T in (16, 256):
        q = np.zeros((B, T, H, D))
        _, stats = lasp2.run(q, q, q, P)
        volumes[T] = stats["max_bytes"]
        assert stats["messages"] == [P - 1] * P
    assert volumes[16] == volumes[256] == (P - 1) * B * H * D * D * 8
    ring_small = ring.run(np.zeros((B, 16, H, D)), *[np.zeros((B, 16, H, D))] * 2, P)[1]
    ring_big = ring.run(np.zeros((B, 256, H, D)), *[np.zeros((B, 256, H, D))] * 2, P)[1]
    assert ring_big["max_bytes"] > 10 * ring_small["max_bytes"], "ring traffic grows with T"


def test_bad_decay_is_named():
    x = np.zeros((1, 4, 2, 3))
    with pytest.raises(ValueError, match="decay"):
        lasp2.run(x, x, x, 2, decay=1.5)
