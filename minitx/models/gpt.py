"""A decoder-only language model (GPT) with a pluggable token mixer.

    tokens (B, T) -> token embedding + learned position embedding   (B, T, C)
    -> n_layer x [ x + mixer(norm(x)),  x + mlp(norm(x)) ]          pre-norm blocks
    -> final norm -> linear head (tied to the token embedding)     (B, T, vocab)

Papers: "Attention Is All You Need" (the block); "Language Models are
Unsupervised Multitask Learners" (GPT-2: pre-norm, N(0, 0.02) init, residual
projections scaled by 1/sqrt(2 n_layer)).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from .. import functional as F
from .. import mixers
from ..autograd.factories import _rng, manual_seed
from ..autograd.function import no_grad
from ..autograd.tensor import Tensor
from ..nn import GLU, MLP, Dropout, Embedding, LayerNorm, Linear, Module, ModuleList, RMSNorm
from ..nn import init


@dataclass
class GPTConfig:
    vocab_size: int = 64
    block_size: int = 64          # longest context (number of learned positions)
    n_layer: int = 2
    n_head: int = 4
    d_model: int = 128
    mlp_ratio: int = 4
    mlp: str = "mlp"              # "mlp" or "swiglu"
    activation: str = "gelu"      # for mlp="mlp": gelu, gelu_tanh, relu, silu
    norm: str = "layernorm"       # or "rmsnorm"
    mixer: str = "softmax"        # any name in minitx.mixers.names()
    mixer_options: dict = field(default_factory=dict)
    # one mixer name per layer, overriding ``mixer`` (e.g. full attention in a few layers and
    # local attention elsewhere, as MASFormer does); mixer_options go to layers using ``mixer``
    layer_mixers: tuple = ()
    # False: every mixer is built with causal=False and sees the whole sequence (masked
    # objectives such as MLM-U, and mixers that only exist bidirectionally); no generate()
    causal: bool = True
    dropout: float = 0.0
    bias: bool = True
    tie_weights: bool = True

    def __post_init__(self):
        if self.d_model % self.n_head:
            raise ValueError(f"GPTConfig: d_model {self.d_model} not divisible by n_head {self.n_head}")
        if self.norm not in ("layernorm", "rmsnorm"):
            raise ValueError(f"GPTConfig: norm must be 'layernorm' or 'rmsnorm', got {self.norm!r}")
        if self.mlp not in ("mlp", "swiglu"):
            raise ValueError(f"GPTConfig: mlp must be 'mlp' or 'swiglu', got {self.mlp!r}")
        if self.layer_mixers and len(self.layer_mixers) != self.n_layer:
            raise ValueError(f"GPTConfig: layer_mixers needs one name per layer ({self.n_layer}), "
                             f"got {len(self.layer_mixers)}: {self.layer_mixers}")

    def mixer_of(self, layer: int):
        """(name, options) of the mixer in block ``layer``."""
        name = self.layer_mixers[layer] if self.layer_mixers else self.mixer
        return name, (self.mixer_options if name == self.mixer else {})


def token_loss(logits, targets):
    """Mean cross-entropy of logits (B, T, vocab) against targets (B, T) token ids, skipping
    targets equal to -100 (prompt positions, slots a masked objective left visible, padding)."""
    B, T, V = logits.shape
    t = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
    return F.cross_entropy(logits.reshape(B * T, V), t.reshape(-1), ignore_index=-100)


def _norm(cfg):
    return LayerNorm(cfg.d_model, bias=cfg.bias) if cfg.norm == "layernorm" else RMSNorm(cfg.d_model)


def gpt2_init_(named_parameters, n_layer, rng):
    """GPT-2 init in place: N(0, 0.02) weight matrices, zero biases, and the residual-stream
    output projections N(0, 0.02 / sqrt(2 n_layer)) so the residual sum stays O(1).

    Only parameters named ``weight`` (of Linear, Embedding, ...) are redrawn, and none that
    carries ``p._no_reinit = True`` (the flag mamba_ssm uses): a mixer's structured parameters
    (an SSM's A, its step-size projection and bias, its convolution) keep the initialisation
    their paper prescribes."""
    for name, p in named_parameters:
        if getattr(p, "_no_reinit", False):
            continue
        if p.ndim >= 2 and name.rsplit(".", 1)[-1] == "weight":
            std = 0.02
            if name.endswith(("out.weight", "proj.weight")):
                std /= math.sqrt(2 * n_layer)
            init.normal_(p, 0.0, std, generator=rng)
        elif name.endswith("bias"):
            init.zeros_(p)


def rebuild_mixers_(model, seed):
    """Build every block's mixer again with the mixer's own initialisation (drawn from the
    global generator seeded with ``seed``), undoing GPT-2's init on it. For SSMs this
    matters: GPT-2's N(0, 0.02) shrinks Mamba's x_proj so far that the gradients reaching
    its selection are ~1e-15. Returns the model."""
    cfg = model.config
    manual_seed(seed)
    for layer, block in enumerate(model.blocks):
        name, options = cfg.mixer_of(layer)
        block.mixer = mixers.build(name, cfg.d_model, cfg.n_head, causal=cfg.causal, **options)
    return model


class Block(Module):
    """x + mixer(norm1(x)), then x + mlp(norm2(x))."""

    def __init__(self, cfg: GPTConfig, layer: int = 0):
        super().__init__()
        self.norm1 = _norm(cfg)
        name, options = cfg.mixer_of(layer)
        self.mixer = mixers.build(name, cfg.d_model, cfg.n_head, causal=cfg.causal, **options)
        self.norm2 = _norm(cfg)
        hidden = cfg.mlp_ratio * cfg.d_model
        self.mlp = (MLP(cfg.d_model, hidden, cfg.activation, cfg.dropout, cfg.bias)
                    if cfg.mlp == "mlp" else GLU(cfg.d_model, None, "silu", cfg.dropout, cfg.bias))
        self.drop = Dropout(cfg.dropout)

    def forward(self, x):
        x = x + self.drop(self.mixer(self.norm1(x)))
        return x + self.mlp(self.norm2(x))

    def step(self, x_t, state):
        y, state = self.mixer.step(self.norm1(x_t), state)
        x_t = x_t + y
        return x_t + self.mlp(self.norm2(x_t)), state


class GPT(Module):
    def __init__(self, cfg: GPTConfig, seed: int | None = 0):
        super().__init__()
        self.config = cfg
        self.tok_emb = Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = Embedding(cfg.block_size, cfg.d_model)
        self.drop = Dropout(cfg.dropout)
        self.blocks = ModuleList(Block(cfg, layer) for layer in range(cfg.n_layer))
        self.norm = _norm(cfg)
        self.head = None if cfg.tie_weights else Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self._init_weights(np.random.default_rng(seed) if seed is not None else _rng(None))

    def _init_weights(self, rng):
        gpt2_init_(self.named_parameters(), self.config.n_layer, rng)

    def embed(self, ids):
        """ids (B, T) -> the input of the first block: token + position embeddings (B, T, C)."""
        return self.tok_emb(ids) + self.pos_emb(np.arange(ids.shape[1]))

    def forward(self, idx, targets=None):
        """idx (B, T) int token ids -> logits (B, T, vocab); with targets (B, T) also the mean
        cross-entropy (targets equal to -100 are ignored)."""
        ids = idx.data if isinstance(idx, Tensor) else np.asarray(idx)
        B, T = ids.shape
        if T > self.config.block_size:
            raise ValueError(f"{type(self).__name__}: sequence length {T} exceeds block_size "
                             f"{self.config.block_size}")
        x = self.drop(self.embed(ids))  # (B, T, C)
        for block in self.blocks:
            x = block(x)
        logits = self._logits(self.norm(x))  # (B, T, vocab)
        if targets is None:
            return logits
        return logits, token_loss(logits, targets)

    def _logits(self, x):
        weight = self.tok_emb.weight if self.head is None else self.head.weight
        return F.linear(x, weight)

    @no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
        """Append ``max_new_tokens`` tokens to idx (B, T), sampling (or greedy when
        temperature == 0), feeding at most the last block_size tokens."""
        if not self.config.causal:
            raise TypeError("GPT(causal=False): left-to-right generate() needs a causal model; "
                            "fill MASK tokens with forward() instead")
        ids = np.array(idx.data if isinstance(idx, Tensor) else idx, dtype=np.int64)
        rng = _rng(generator)
        for _ in range(max_new_tokens):
            logits = self(ids[:, -self.config.block_size:]).data[:, -1, :]
            if temperature == 0:
                nxt = logits.argmax(-1)
            else:
                logits = logits / temperature
                if top_k is not None:
                    kth = np.sort(logits, axis=-1)[:, -top_k][:, None]
                    logits = np.where(logits < kth, -np.inf, logits)
                p = np.exp(logits - logits.max(-1, keepdims=True))
                p /= p.sum(-1, keepdims=True)
                nxt = np.array([rng.choice(len(row), p=row) for row in p])
            ids = np.concatenate([ids, nxt[:, None]], axis=1)
        return Tensor._from_array(ids)

    def config_dict(self):
        return asdict(self.config)
