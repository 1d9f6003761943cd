"""A GPT whose token mixers see the whole sequence: the model for masked objectives (MLM-U).

    tokens (B, T) -> the same embeddings, blocks, norm and tied head as ``GPT``   (B, T, vocab)
    only change: every block's mixer is built with causal=False, so position t
    attends to positions before *and after* it.

Paper: "Transformers Can Navigate Mazes With Multi-Step Prediction" (Nolte et al., 2024)
trains MLM-U with an encoder-decoder whose decoder queries carry positions only.
Here the simpler BERT-style form is used: hidden tokens are replaced by a MASK token
and read out at their own positions.  Same parameter count as the causal ``GPT`` of
the same config, and -- for the same seed -- the same initial weights, so a comparison
of objectives differs in the attention mask and the loss only.  Cost per layer as
GPT's: O(T^2 d) attention, O(T d^2) projections.
"""

from __future__ import annotations

from .. import mixers
from .gpt import GPT, GPTConfig


class BidirectionalGPT(GPT):
    def __init__(self, cfg: GPTConfig, seed: int | None = 0):
        super().__init__(cfg, seed=seed)
        for block in self.blocks:
            block.mixer = mixers.build(cfg.mixer, cfg.d_model, cfg.n_head, causal=False,
                                       **cfg.mixer_options)
        if seed is not None:  # the weights of GPT(cfg, seed), name by name
            self.load_state_dict(GPT(cfg, seed=seed).state_dict())

    def generate(self, *args, **kwargs):
        raise TypeError("BidirectionalGPT: left-to-right generate() needs a causal model; "
                        "fill MASK tokens with forward() instead")
