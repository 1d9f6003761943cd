"""The GPT model and the softmax attention mixer: shapes, causality, the KV-cache
step form against the parallel form, gradients, and errors."""

import numpy as np
import pytest

import minitx
import minitx.functional as F
from minitx import mixers
from minitx.models import GPT, GPTConfig


def small_gpt(**kw):
    cfg = dict(vocab_size=11, block_size=12, n_layer=2, n_head=2, d_model=16)
    cfg.update(kw)
    return GPT(GPTConfig(**cfg), seed=0)


def test_logits_shape_and_loss_matches_direct_cross_entropy():
    model = small_gpt()
    rng = np.random.default_rng(0)
    x = rng.integers(0, 11, size=(3, 12))
    y = rng.integers(0, 11, size=(3, 12))
    logits, loss = model(x, y)
    assert logits.shape == (3, 12, 11)
    z = logits.data.reshape(-1, 11).astype(np.float64)
    logp = z - z.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    direct = -logp[np.arange(36), y.reshape(-1)].mean()
    assert loss.item() == pytest.approx(direct, rel=1e-5)


def test_gpt_is_causal():
    model = small_gpt()
    rng = np.random.default_rng(1)
    x = rng.integers(0, 11, size=(2, 12))
    base = model(x).data
    x2 = x.copy()
    x2[:, 7:] = (x2[:, 7:] + 3) % 11
    changed = model(x2).data
    np.testing.assert_allclose(base[:, :7], changed[:, :7], atol=1e-6)
    assert not np.allclose(base[:, 7:], changed[:, 7:])


def test_tied_head_shares_the_embedding_and_untied_has_its_own():
    tied, untied = small_gpt(), small_gpt(tie_weights=False)
    assert untied.num_parameters() - tied.num_parameters() == 11 * 16
    names = dict(tied.named_parameters())
    assert "head.weight" not in names and "tok_emb.weight" in names


def test_ignored_targets_do_not_count():
    model = small_gpt()
    rng = np.random.default_rng(2)
    x = rng.integers(0, 11, size=(2, 12))
    y = rng.integers(0, 11, size=(2, 12))
    y_masked = y.copy()
    y_masked[:, :6] = -100
    logits, loss = model(x, y_masked)
    full = F.cross_entropy(logits.reshape(24, 11), y.reshape(-1), reduction="none").data
    keep = y_masked.reshape(-1) != -100
    assert loss.item() == pytest.approx(full[keep].mean(), rel=1e-5)


def test_sequence_longer_than_block_size_is_rejected():
    with pytest.raises(ValueError, match="block_size"):
        small_gpt()(np.zeros((1, 13), dtype=np.int64))


def test_gradients_reach_every_parameter():
    model = small_gpt()
    x = np.random.default_rng(3).integers(0, 11, size=(2, 12))
    _, loss = model(x, x)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and np.abs(p.grad).sum() > 0, name


def test_greedy_generation_is_deterministic_and_keeps_the_prompt():
    model = small_gpt()
    prompt = np.array([[1, 2, 3]])
    a = model.generate(prompt, 5, temperature=0).data
    b = model.generate(prompt, 5, temperature=0).data
    assert a.shape == (1, 8) and (a == b).all() and (a[:, :3] == prompt).all()


@pytest.mark.parametrize("n_kv_heads", [None, 2, 1], ids=["mha", "gqa", "mqa"])
def test_attention_step_equals_parallel_form(n_kv_heads):
    minitx.manual_seed(0)
    mixer = mixers.build("softmax", d_model=16, n_heads=4, n_kv_heads=n_kv_heads).double()
    x = minitx.randn(2, 7, 16, dtype="float64")
    parallel = mixer(x).data
    state = mixer.init_state(2)
    steps = []
    for t in range(7):
        y, state = mixer.step(x[:, t], state)
        steps.append(y.data)
    np.testing.assert_allclose(np.stack(steps, 1), parallel, atol=1e-10)


@pytest.mark.parametrize("n_kv_heads", [None, 1])
def test_attention_gradcheck(n_kv_heads):
    minitx.manual_seed(0)
    mixer = mixers.build("softmax", d_model=8, n_heads=2, n_kv_heads=n_kv_heads).double()
    x = minitx.randn(2, 5, 8, dtype="float64", requires_grad=True)
    params = list(mixer.parameters())

    def fn(x, *ps):
        return mixer(x)

    assert minitx.gradcheck(fn, [x, *params])


def test_attention_matches_brute_force_definition():
    minitx.manual_seed(1)
    mixer = mixers.build("softmax", d_model=8, n_heads=2).double()
    x = minitx.randn(1, 5, 8, dtype="float64")
    W, b = mixer.qkv.weight.data, mixer.qkv.bias.data
    qkv = x.data[0] @ W.T + b
    q, k, v = qkv[:, :8], qkv[:, 8:16], qkv[:, 16:]
    heads = []
    for h in range(2):
        sl = slice(4 * h, 4 * h + 4)
        s = q[:, sl] @ k[:, sl].T / 2.0
        s = np.where(np.tril(np.ones((5, 5))) > 0, s, -np.inf)
        p = np.exp(s - s.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        heads.append(p @ v[:, sl])
    expected = np.concatenate(heads, 1) @ mixer.out.weight.data.T + mixer.out.bias.data
    np.testing.assert_allclose(mixer(x).data[0], expected, atol=1e-10)


def test_mixer_registry_errors_name_the_accepted_values():
    with pytest.raises(KeyError, match="softmax"):
        mixers.build("no-such-mixer", d_model=8)
    with pytest.raises(TypeError, match="n_kv_heads"):
        mixers.build("softmax", d_model=8, n_heads=2, window=3)
    assert "softmax" in mixers.names()


def test_rebuild_mixers_restores_each_mixers_own_init():
    """GPT-2's init redraws every weight matrix at N(0, 0.02); rebuild_mixers_ builds the
    mixers again as their constructors draw them (same seed -> same weights as a standalone
    mixer), and leaves everything outside the mixers alone."""
    import minitx
    from minitx import mixers as M
    from minitx.models.gpt import rebuild_mixers_

    cfg = GPTConfig(vocab_size=10, block_size=8, n_layer=2, n_head=2, d_model=8, mixer="mamba")
    model = GPT(cfg, seed=0)
    emb = model.tok_emb.weight.data.copy()
    assert model.blocks[0].mixer.x_proj.weight.data.std() < 0.05  # GPT-2's shrunk draw
    rebuild_mixers_(model, seed=3)
    minitx.manual_seed(3)
    want = M.build("mamba", 8, 2, causal=True)
    np.testing.assert_array_equal(model.blocks[0].mixer.x_proj.weight.data,
                                  want.x_proj.weight.data)
    np.testing.assert_array_equal(model.tok_emb.weight.data, emb)
