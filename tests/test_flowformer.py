"""Flowformer's Flow-Attention: both directions equal a loop over the flow equations, the
competition redistributes a fixed total, gradients check, and causal outputs ignore the
future."""

import numpy as np
import pytest

import minitx
from minitx import mixers
from minitx.mixers.linear import flowformer as ff

sig = lambda x: 1 / (1 + np.exp(-x))


def causal_loop(fq, fk, v, eps=ff.EPS):
    """The causal flow equations, one position at a time (B, H axes looped too)."""
    B, H, T, D = fq.shape
    out = np.zeros(v.shape)
    for b in range(B):
        for h in range(H):
            q, k, val = fq[b, h], fk[b, h], v[b, h]
            n = np.arange(1, T + 1)
            inc = np.array([q[i] @ k[:i + 1].sum(0) / n[i] for i in range(T)]) + eps
            outg = np.array([k[j] @ q[:j + 1].sum(0) / n[j] for j in range(T)]) + eps
            c_in = np.array([q[i] @ (k[:i + 1] / outg[:i + 1, None]).sum(0) / n[i]
                             for i in range(T)])
            c_out = np.array([k[j] @ (q[:j + 1] / inc[:j + 1, None]).sum(0) / n[j]
                              for j in range(T)]).clip(-10, 10)
            w = np.exp(c_out)
            comp = np.array([w[j] / w[:j + 1].sum() * n[j] for j in range(T)])
            for i in range(T):
                total = sum((q[i] @ k[j]) * comp[j] * val[j] for j in range(i + 1))
                out[b, h, i] = sig(c_in[i]) * total / (inc[i] * n[i])
    return out


def random_features(seed, T=8):
    rng = np.random.default_rng(seed)
    fq, fk = sig(rng.standard_normal((2, 2, T, 3))), sig(rng.standard_normal((2, 2, T, 3)))
    return fq, fk, rng.standard_normal((2, 2, T, 3))


def as_tensors(*arrays, grad=False):
    return [minitx.tensor(a, dtype="float64", requires_grad=grad) for a in arrays]


@pytest.mark.parametrize("chunk", [1, 3, 64])
def test_causal_flow_attention_equals_the_loop(chunk):
    fq, fk, v = random_features(chunk)
    got = ff.causal_flow_attention(*as_tensors(fq, fk, v), chunk_size=chunk).data
    np.testing.assert_allclose(got, causal_loop(fq, fk, v), atol=1e-11)


def test_non_causal_flow_attention_equals_the_equations():
    fq, fk, v = random_features(5)
    T = fq.shape[2]
    inc = np.einsum("bhid,bhd->bhi", fq, fk.sum(2)) + ff.EPS
    outg = np.einsum("bhjd,bhd->bhj", fk, fq.sum(2)) + ff.EPS
    c_in = np.einsum("bhid,bhd->bhi", fq, (fk / outg[..., None]).sum(2))
    c_out = np.einsum("bhjd,bhd->bhj", fk, (fq / inc[..., None]).sum(2))
    comp = np.exp(c_out) / np.exp(c_out).sum(-1, keepdims=True) * T
    assert np.allclose(comp.sum(-1), T), "competition shares out a total of T"
    scores = np.einsum("bhid,bhjd->bhij", fq, fk) / inc[..., None]
    want = sig(c_in)[..., None] * np.einsum("bhij,bhj,bhjd->bhid", scores, comp, v)
    np.testing.assert_allclose(ff.flow_attention(*as_tensors(fq, fk, v)).data, want, atol=1e-11)


@pytest.mark.parametrize("causal", [True, False])
def test_gradcheck(causal):
    fq, fk, v = as_tensors(*random_features(7, T=5), grad=True)
    fn = (lambda *a: ff.causal_flow_attention(*a, chunk_size=2)) if causal else ff.flow_attention
    assert minitx.gradcheck(fn, [fq, fk, v])


def test_mixer_runs_both_directions():
    for causal in (True, False):
        minitx.manual_seed(0)
        m = mixers.build("flowformer", d_model=8, n_heads=2, causal=causal).double()
        y = m(minitx.tensor(np.random.default_rng(1).standard_normal((2, 6, 8)), dtype="float64"))
        assert y.shape == (2, 6, 8) and np.isfinite(y.data).all()
