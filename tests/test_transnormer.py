"""TransNormer (NormAttention, DiagAttention) and Lightning Attention: the decayed parallel,
recurrent and block (lightning) forms equal each other and a loop definition for any block
size; the mixers' outputs equal their mixing matrices; gradients by finite differences;
DiagAttention's locality."""

import numpy as np
import pytest

import minitx
from minitx import mixers
from minitx.mixers.linear import transnormer as tn


def tensors(rng, *shapes):
    return [minitx.tensor(rng.standard_normal(s), dtype="float64", requires_grad=True)
            for s in shapes]


def loop_definition(q, k, v, lam):
    """o_t = sum_{s <= t} lam_h^(t-s) (q_t . k_s) v_s, by loops."""
    B, H, T, _ = q.shape
    o = np.zeros(q.shape[:3] + (v.shape[-1],))
    for b in range(B):
        for h in range(H):
            for t in range(T):
                for s in range(t + 1):
                    o[b, h, t] += lam[h] ** (t - s) * (q[b, h, t] @ k[b, h, s]) * v[b, h, s]
    return o


LAM = np.array([1.0, 0.9, 0.3])


@pytest.mark.parametrize("block", [1, 3, 4, 10, 32])
def test_lightning_form_equals_the_definition_for_any_block(block):
    rng = np.random.default_rng(block)
    q, k, v = tensors(rng, (2, 3, 10, 4), (2, 3, 10, 4), (2, 3, 10, 5))
    want = loop_definition(q.data, k.data, v.data, LAM)
    np.testing.assert_allclose(tn.lightning_form(q, k, v, LAM, block).data, want, atol=1e-11)
    np.testing.assert_allclose(tn.parallel_form(q, k, v, LAM).data, want, atol=1e-11)
    np.testing.assert_allclose(tn.recurrent_form(q, k, v, LAM).data, want, atol=1e-11)


@pytest.mark.parametrize("form", ["lightning", "parallel", "recurrent"])
def test_gradcheck_each_form(form):
    fn = {"lightning": lambda q, k, v: tn.lightning_form(q, k, v, LAM, 3),
          "parallel": lambda q, k, v: tn.parallel_form(q, k, v, LAM),
          "recurrent": lambda q, k, v: tn.recurrent_form(q, k, v, LAM)}[form]
    q, k, v = tensors(np.random.default_rng(0), (1, 3, 7, 2), (1, 3, 7, 2), (1, 3, 7, 2))
    assert minitx.gradcheck(fn, [q, k, v])


@pytest.mark.parametrize("name", ["norm-attention", "lightning", "diag-attention"])
def test_mixer_output_equals_its_mixing_matrix(name):
    minitx.manual_seed(0)
    opts = {"block_size": 4} if name == "diag-attention" else {"chunk_size": 4}
    m = mixers.build(name, d_model=12, n_heads=3, **opts).double()
    x = minitx.tensor(np.random.default_rng(1).standard_normal((2, 9, 12)), dtype="float64")
    M = m.mixing_matrix(x)  # (B, H, T, T)
    B, T, C = x.shape
    v = m.qkv(x).split(12, -1)[2].data.reshape(B, T, 3, 4).transpose(0, 2, 1, 3)
    heads = np.einsum("bhts,bhsd->bhtd", M, v).transpose(0, 2, 1, 3).reshape(B, T, C)
    heads = minitx.tensor(heads, dtype="float64")
    want = m.out(heads) if name == "diag-attention" else m._output(heads, x)
    np.testing.assert_allclose(m(x).data, want.data, atol=1e-10)


def test_decay_one_lightning_equals_norm_attention_without_a_gate():
    rng = np.random.default_rng(2)
    q, k, v = tensors(rng, (1, 3, 6, 4), (1, 3, 6, 4), (1, 3, 6, 4))
    undecayed = tn.lightning_form(q, k, v, np.ones(3), 4).data
    np.testing.assert_allclose(undecayed, np.tril(q.data @ k.data.transpose(0, 1, 3, 2)) @ v.data,
                               atol=1e-12)


def test_diag_attention_sees_only_its_block():
    minitx.manual_seed(0)
    m = mixers.build("diag-attention", d_model=8, n_heads=2, block_size=4).double()
    x = np.random.default_rng(3).standard_normal((1, 12, 8))
    y = m(minitx.tensor(x, dtype="float64")).data
    x2 = x.copy()
    x2[:, :4] += 1.0  # change block 0: blocks 1 and 2 must not move
    y2 = m(minitx.tensor(x2, dtype="float64")).data
    np.testing.assert_allclose(y[:, 4:], y2[:, 4:], atol=1e-12)
    assert not np.allclose(y[:, :4], y2[:, :4])


@pytest.mark.parametrize("name, options, match", [
    ("norm-attention", {"decay": 1.5}, "decay"), ("norm-attention", {"form": "chunky"}, "form"),
    ("norm-attention", {"feature_map": "tanh"}, "feature map"),
    ("diag-attention", {"block_size": 0}, "block_size")])
def test_bad_options_name_the_value(name, options, match):
    with pytest.raises(ValueError, match=match):
        mixers.build(name, d_model=8, n_heads=2, **options)


def test_decay_without_causal_mask_is_refused():
    m = mixers.build("lightning", d_model=8, n_heads=2, causal=False)
    with pytest.raises(ValueError, match="causal"):
        m(minitx.tensor(np.zeros((1, 3, 8))))
