"""Hydra: the two shifted SSD scans plus the diagonal equal the materialised quasiseparable
matrix, whose entries match the paper's definition one by one; the mixer is bidirectional,
refuses causal=True, and passes gradcheck."""

from __future__ import annotations

import numpy as np
import pytest

import minitx
from minitx import mixers
from minitx.autograd import gradcheck
from minitx.mixers.ssm.hydra import quasiseparable_matrix


def hydra(seed=0, **opts):
    minitx.manual_seed(seed)
    opts = {"d_state": 3, "chunk_size": 4, "d_conv": 3, **opts}
    return mixers.build("hydra", d_model=6, n_heads=2, causal=False, **opts).double()


def inputs_of(m, u):
    with minitx.no_grad():
        return {k: v.data for k, v in m.mixer_inputs(minitx.tensor(u)).items()}


def qs_arrays(p):
    return (p["dt_fw"], p["dt_bw"], p["A"], p["B_fw"], p["C_fw"], p["B_bw"], p["C_bw"], p["diag"])


def test_quasiseparable_matrix_entries_follow_the_definition():
    m = hydra()
    p = inputs_of(m, np.random.default_rng(1).standard_normal((2, 7, 6)))
    M = quasiseparable_matrix(*qs_arrays(p))
    a = p["A"]
    for b in range(2):
        for h in range(2):
            for t in range(7):
                for s in range(7):
                    if s < t:
                        decay = np.exp(a[h] * p["dt_fw"][b, s + 1:t, h].sum())
                        want = p["C_fw"][b, t - 1] @ p["B_fw"][b, s] * decay * p["dt_fw"][b, s, h]
                    elif s == t:
                        want = p["diag"][b, t, h]
                    else:
                        decay = np.exp(a[h] * p["dt_bw"][b, t + 1:s, h].sum())
                        want = p["C_bw"][b, t + 1] @ p["B_bw"][b, s] * decay * p["dt_bw"][b, s, h]
                    assert np.isclose(M[b, h, t, s], want, rtol=1e-11, atol=1e-14), (b, h, t, s)


@pytest.mark.parametrize("chunk", [1, 3, 64])
def test_two_scans_equal_the_quasiseparable_matrix(chunk):
    m = hydra(chunk_size=chunk)
    u = np.random.default_rng(2).standard_normal((2, 9, 6))
    p = m.mixer_inputs(minitx.tensor(u))
    y = m.mix(p).data  # (B, T, H, P)
    M = quasiseparable_matrix(*qs_arrays({k: v.data for k, v in p.items()}))
    np.testing.assert_allclose(y, np.einsum("bhts,bshp->bthp", M, p["x"].data),
                               rtol=1e-10, atol=1e-12)


def test_centred_convolution():
    m = hydra(d_conv=5)
    xBC = np.random.default_rng(3).standard_normal((1, 6, m.conv.channels))
    got = m._centred_conv(minitx.tensor(xBC)).data
    w, bias = m.conv.weight.data, m.conv.bias.data
    padded = np.pad(xBC, ((0, 0), (2, 2), (0, 0)))
    want = sum(w[:, k] * padded[:, k:k + 6] for k in range(5)) + bias  # taps t-2 .. t+2
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


def test_outputs_see_past_and_future():
    m = hydra()
    rng = np.random.default_rng(4)
    u = rng.standard_normal((1, 8, 6))
    y = m(minitx.tensor(u)).data
    for t in (0, 7):
        u2 = u.copy()
        u2[:, t] += 1.0
        y2 = m(minitx.tensor(u2)).data
        assert not np.allclose(y2[:, 3], y[:, 3]), f"output 3 ignores input {t}"


def test_gradcheck():
    m = hydra(seed=5)
    u = minitx.tensor(np.random.default_rng(6).standard_normal((1, 5, 6)), requires_grad=True)
    assert gradcheck(lambda u, *p: m(u), [u, m.A_log, m.D, m.dt_bias, m.fc_D.weight])


def test_refuses_causal_and_even_kernels():
    assert mixers.get("hydra").causal_capable is False
    with pytest.raises(ValueError, match="causal"):
        mixers.build("hydra", d_model=8, n_heads=2, causal=True)
    with pytest.raises(ValueError, match="odd"):
        mixers.build("hydra", d_model=8, causal=False, d_conv=4)
