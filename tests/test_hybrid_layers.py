"""Mixing mixers across layers (MASFormer, "You Need to Attend More, but Not Necessarily at
Every Layer"): GPT takes one mixer per layer; local layers alone have a bounded receptive
field, and one full-attention layer among them reaches the whole context."""

import numpy as np
import pytest

import minitx
from minitx.models import GPT, GPTConfig


def make(layer_mixers):
    cfg = GPTConfig(vocab_size=11, block_size=16, n_layer=len(layer_mixers), n_head=2,
                    d_model=16, mixer="sliding-window", mixer_options={"window": 2},
                    layer_mixers=layer_mixers)
    return GPT(cfg, seed=0).double()


def sees_first_token(model, T=12):
    ids = np.random.default_rng(0).integers(0, 11, size=(1, T))
    changed = ids.copy()
    changed[0, 0] = (ids[0, 0] + 1) % 11
    return not np.allclose(model(ids).data[0, -1], model(changed).data[0, -1])


def test_each_layer_gets_its_mixer_and_options():
    model = make(("sliding-window", "softmax", "sliding-window"))
    names = [type(b.mixer).__name__ for b in model.blocks]
    assert names == ["SlidingWindowAttention", "MultiHeadAttention", "SlidingWindowAttention"]
    assert model.blocks[0].mixer.window == 2


def test_one_full_layer_extends_the_receptive_field():
    assert not sees_first_token(make(("sliding-window",) * 3))  # reach 3 * (2 - 1) = 3 tokens
    assert sees_first_token(make(("sliding-window", "softmax", "sliding-window")))


def test_layer_mixers_must_match_the_depth():
    with pytest.raises(ValueError, match="layer_mixers"):
        GPTConfig(n_layer=2, layer_mixers=("softmax",))
