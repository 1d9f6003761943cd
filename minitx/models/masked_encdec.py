"""An encoder-decoder for masked objectives: the encoder reads only the visible tokens, the
decoder asks "what is at position i?" with a query that carries nothing but i.

    tokens (B, T), visible = tokens != MASK
    encoder: token embedding -> n_layer x [ self-attention over VISIBLE keys (RoPE), MLP ]
             -> norm                                                   memory (B, T, C)
    decoder: one learned query vector at every position              (B, T, C)
             -> n_layer x [ cross-attention to the memory's VISIBLE keys (RoPE), MLP ]
             -> norm -> linear head (tied to the token embedding)      (B, T, vocab)

Papers: "Transformers Can Navigate Mazes With Multi-Step Prediction" (Nolte, Kitouni,
Williams, Rabbat, Ibrahim, 2024) trains MLM-U with this shape of model (the authors'
code calls it PAST; MLM-U itself comes from "The Factorization Curse: Which Tokens You
Predict Underlie the Reversal Curse and More", Kitouni et al., 2024).  Rotary positions
("RoFormer") are the only position signal, so query i finds "my left and right
neighbours" by the offset i - j alone, the same way at every i.

How it differs from BERT's shape (a MASK token read out at its own position,
``BidirectionalGPT``): there a hidden slot knows where it is only through a learned
absolute position, and the MASK tokens are keys too; here hidden tokens are never keys,
and every position is found by its offset alone.  On the mazes, at CPU scale, this did
not make MLM-U learn faster (see ``minitx.experiments.mazes``); it is here so the paper's
model can be run as the paper describes it.

Glossary (code -> paper / authors' code):
    visible    (B, T) bool     m^C_mu: tokens the objective shows (True) or hides (False)
    memory     (B, T, C)       encoder output, the keys/values of every decoder layer
    query      (C,)            the decoder's one input vector ("wpe" of size 1 there)
    q, k, v    (B, T, H, D)    per-head projections, rotated by RoPE at their positions

Cost per layer: O(T^2 D H) attention and O(T C^2) projections in each of encoder and
decoder, so n_layer here costs about what a 2 * n_layer GPT costs; same for parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import functional as F
from ..autograd.tensor import Tensor
from ..mixers.positions import apply_rope, rope_frequencies
from ..nn import MLP, Embedding, LayerNorm, Linear, Module, ModuleList, Parameter
from .gpt import gpt2_init_, token_loss


@dataclass
class EncDecConfig:
    vocab_size: int = 64
    mask_id: int = 1              # the token id that marks a hidden position
    n_layer: int = 2              # per stack: the encoder and the decoder have n_layer each
    n_head: int = 4
    d_model: int = 64
    mlp_ratio: int = 4
    rope_base: float = 10000.0

    def __post_init__(self):
        if self.d_model % self.n_head:
            raise ValueError(f"EncDecConfig: d_model {self.d_model} not divisible by "
                             f"n_head {self.n_head}")
        rope_frequencies(self.d_model // self.n_head)  # RoPE needs an even head dim
        if not 0 <= self.mask_id < self.vocab_size:
            raise ValueError(f"EncDecConfig: mask_id {self.mask_id} is not a token id "
                             f"(accepted: 0..{self.vocab_size - 1})")


class RotaryAttention(Module):
    """Multi-head softmax attention from queries x (B, T, C) to keys/values of memory
    (B, S, C), RoPE on both, keys restricted to ``key_visible`` (B, S).  Self-attention is
    ``attn(x, x, visible)``."""

    def __init__(self, d_model, n_head, base=10000.0):
        super().__init__()
        self.n_head, self.head_dim, self.base = n_head, d_model // n_head, base
        self.q = Linear(d_model, d_model)
        self.kv = Linear(d_model, 2 * d_model)
        self.out = Linear(d_model, d_model)

    def forward(self, x, memory, key_visible):
        B, T, C = x.shape
        S = memory.shape[1]
        q = self.q(x).reshape(B, T, self.n_head, self.head_dim)             # (B, T, H, D)
        k, v = self.kv(memory).split([C, C], -1)
        k = k.reshape(B, S, self.n_head, self.head_dim)                     # (B, S, H, D)
        v = v.reshape(B, S, self.n_head, self.head_dim)
        q, k = apply_rope(q, np.arange(T), self.base), apply_rope(k, np.arange(S), self.base)
        mask = key_visible[:, None, None, :]                                # (B, 1, 1, S)
        y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                           v.transpose(1, 2), attn_mask=mask)  # (B, H, T, D)
        return self.out(y.transpose(1, 2).reshape(B, T, C))


class EncDecBlock(Module):
    """x + attn(norm1(x), memory), then x + mlp(norm2(x)); memory=None means self-attention."""

    def __init__(self, cfg: EncDecConfig):
        super().__init__()
        self.norm1 = LayerNorm(cfg.d_model)
        self.attn = RotaryAttention(cfg.d_model, cfg.n_head, cfg.rope_base)
        self.norm2 = LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg.d_model, cfg.mlp_ratio * cfg.d_model)

    def forward(self, x, visible, memory=None):
        h = self.norm1(x)
        x = x + self.attn(h, h if memory is None else memory, visible)
        return x + self.mlp(self.norm2(x))


class MaskedEncoderDecoder(Module):
    """model(ids) -> logits at every position, predicted from the non-MASK tokens only.
    ``model(ids, targets)`` also returns the mean cross-entropy (targets -100 ignored), so
    the model trains with ``minitx.train`` on (inputs, targets) batches like ``GPT``."""

    def __init__(self, cfg: EncDecConfig, seed: int | None = 0):
        super().__init__()
        self.config = cfg
        self.tok_emb = Embedding(cfg.vocab_size, cfg.d_model)
        self.encoder = ModuleList(EncDecBlock(cfg) for _ in range(cfg.n_layer))
        self.enc_norm = LayerNorm(cfg.d_model)
        self.query = Parameter(np.zeros(cfg.d_model, np.float32))
        self.decoder = ModuleList(EncDecBlock(cfg) for _ in range(cfg.n_layer))
        self.dec_norm = LayerNorm(cfg.d_model)
        rng = np.random.default_rng(seed)
        gpt2_init_(self.named_parameters(), 2 * cfg.n_layer, rng)
        self.query.data[:] = rng.normal(0.0, 0.02, cfg.d_model)

    def forward(self, idx, targets=None):
        ids = idx.data if isinstance(idx, Tensor) else np.asarray(idx)
        visible = ids != self.config.mask_id                               # (B, T)
        if not visible.any(axis=1).all():
            raise ValueError("MaskedEncoderDecoder: a sequence with every token MASK has no "
                             "context to predict from (accepted: at least one visible token "
                             "per row)")
        B, T = ids.shape
        x = self.tok_emb(ids)                                              # (B, T, C)
        for block in self.encoder:
            x = block(x, visible)
        memory = self.enc_norm(x)
        y = self.query.reshape(1, 1, -1).expand(B, T, self.config.d_model)  # (B, T, C)
        for block in self.decoder:
            y = block(y, visible, memory)
        logits = F.linear(self.dec_norm(y), self.tok_emb.weight)           # (B, T, vocab)
        if targets is None:
            return logits
        return logits, token_loss(logits, targets)
