"""MaskedEncoderDecoder: gradients, the attention against a brute-force loop, and the two
properties the design promises (hidden tokens carry no information; only relative
positions matter)."""

import numpy as np
import pytest

import minitx
from minitx.models.masked_encdec import EncDecConfig, MaskedEncoderDecoder, RotaryAttention
from minitx.train import TrainConfig, train

MASK = 1


def _model(seed=0, **kw):
    cfg = EncDecConfig(**{"vocab_size": 12, "mask_id": MASK, "n_layer": 1, "n_head": 2,
                          "d_model": 8, **kw})
    return MaskedEncoderDecoder(cfg, seed=seed)


def _ids(rng, B=2, T=7, hidden=(2, 4, 5)):
    ids = rng.integers(2, 12, (B, T))
    ids[:, list(hidden)] = MASK
    return ids


def test_gradcheck_float64():
    model = _model().double()
    ids = _ids(np.random.default_rng(0), T=5, hidden=(1, 3))
    params = list(model.parameters())

    def fn(*ps):
        return model(ids)

    assert minitx.gradcheck(fn, params)


def test_rotary_attention_matches_a_loop_over_visible_keys():
    minitx.manual_seed(3)
    attn = RotaryAttention(8, 2).double()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 4, 8))
    mem = rng.standard_normal((1, 6, 8))
    visible = np.array([[True, False, True, True, False, True]])
    got = attn(minitx.tensor(x), minitx.tensor(mem), visible).data[0]

    def rot(v, pos):  # RoPE on one head vector, pair by pair
        out = v.copy()
        for i in range(len(v) // 2):
            a = pos * 10000.0 ** (-2 * i / len(v))
            out[2 * i] = v[2 * i] * np.cos(a) - v[2 * i + 1] * np.sin(a)
            out[2 * i + 1] = v[2 * i] * np.sin(a) + v[2 * i + 1] * np.cos(a)
        return out

    q = x[0] @ attn.q.weight.data.T + attn.q.bias.data
    kv = mem[0] @ attn.kv.weight.data.T + attn.kv.bias.data
    k, v = kv[:, :8], kv[:, 8:]
    heads = np.zeros((4, 8))
    for h in range(2):
        sl = slice(4 * h, 4 * h + 4)
        for i in range(4):
            keys = [j for j in range(6) if visible[0, j]]
            s = np.array([rot(q[i, sl], i) @ rot(k[j, sl], j) / 2.0 for j in keys])
            w = np.exp(s - s.max())
            w /= w.sum()
            heads[i, sl] = sum(wj * v[j, sl] for wj, j in zip(w, keys))
    want = heads @ attn.out.weight.data.T + attn.out.bias.data
    np.testing.assert_allclose(got, want, atol=1e-10)


def test_hidden_positions_are_not_read_and_only_offsets_matter():
    """Shift a sequence right by three hidden slots: every logit moves with it, unchanged
    (no absolute position anywhere, hidden tokens never attended to)."""
    model = _model(n_layer=2).double()
    ids = _ids(np.random.default_rng(2))
    shifted = np.concatenate([np.full((2, 3), MASK), ids], axis=1)
    np.testing.assert_allclose(model(shifted).data[:, 3:], model(ids).data, atol=1e-9)
    changed = ids.copy()
    changed[:, 0] = (changed[:, 0] - 1) % 10 + 2  # a different visible token changes things
    assert not np.allclose(model(changed).data, model(ids).data, atol=1e-6)


def test_same_parameter_count_as_a_gpt_twice_as_deep():
    from minitx.models import GPT, GPTConfig
    ed = _model(n_layer=2, d_model=16)
    gpt = GPT(GPTConfig(vocab_size=12, block_size=1, n_layer=4, n_head=2, d_model=16))
    # cross-attention splits W_qkv into W_q and W_kv (same size); the decoder's query vector
    # replaces GPT's one-row position table; the encoder's final norm is the one extra
    assert ed.num_parameters() == gpt.num_parameters() + 2 * 16


def test_an_all_hidden_row_and_a_bad_mask_id_are_refused():
    with pytest.raises(ValueError, match="visible"):
        _model()(np.full((1, 4), MASK))
    with pytest.raises(ValueError, match="mask_id"):
        EncDecConfig(vocab_size=5, mask_id=7)


def test_learns_to_fill_a_hidden_copy():
    """Each sequence is a b a b ... with random a, b; hidden slots must be read from
    visible ones two steps away."""
    model = _model(d_model=16, n_layer=1)

    def batch(step, rng):
        ab = rng.integers(2, 12, (32, 2))
        seq = np.tile(ab, 4)                                   # (32, 8)
        hide = rng.random(seq.shape) < 0.3
        hide[:, :2] = False
        inputs = np.where(hide, MASK, seq)
        return inputs, np.where(hide, seq, -100)

    hist = train(model, batch, TrainConfig(steps=300, lr=1e-2, warmup_steps=10,
                                           weight_decay=0.0, progress=False, log_every=10))
    first, last = hist["log"][0]["loss"], np.mean([r["loss"] for r in hist["log"][-3:]])
    assert last < 0.2 * first
