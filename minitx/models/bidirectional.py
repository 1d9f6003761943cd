"""A GPT whose token mixers see the whole sequence: the model for masked objectives (MLM-U).

    tokens (B, T) -> the same embeddings, blocks, norm and tied head as ``GPT``   (B, T, vocab)
    only change: every block's mixer is built with causal=False (GPTConfig.causal), so
    position t attends to positions before *and after* it.

Paper: "Transformers Can Navigate Mazes With Multi-Step Prediction" (Nolte et al., 2024)
trains MLM-U with an encoder-decoder whose decoder queries carry positions only.
Here the simpler BERT-style form is used: hidden tokens are replaced by a MASK token
and read out at their own positions.  Same parameter count as the causal ``GPT`` of
the same config, and -- for the same seed -- the same initial weights, so a comparison
of objectives differs in the attention mask and the loss only.  Cost per layer as
GPT's: O(T^2 d) attention, O(T d^2) projections.
"""

from __future__ import annotations

from dataclasses import replace

from .gpt import GPT, GPTConfig


class BidirectionalGPT(GPT):
    """``GPT`` with ``causal=False``: the same parameters, drawn identically for a seed."""

    def __init__(self, cfg: GPTConfig, seed: int | None = 0):
        super().__init__(replace(cfg, causal=False), seed=seed)
