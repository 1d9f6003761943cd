"""The in-context regressor: a GPT-style transformer over real-valued tokens.

    tokens (B, T, d+1) -> linear read-in + learned position embedding    (B, T, C)
    -> n_layer x minitx.models.gpt.Block (pre-norm, causal softmax attention)
    -> final LayerNorm -> linear read-out                                 (B, T, 1)
    -> the outputs at x positions 0, 2, 4, ...                           (B, K)

Paper: "What Can Transformers Learn In-Context? A Case Study of Simple Function
Classes" (Garg et al.): a GPT-2 backbone with a linear read-in of the (x, y)
tokens and a linear read-out, trained with the squared error averaged over every
x position of the prompt.  The token layout is ``minitx.tasks.icl.interleave``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .. import functional as F
from ..autograd.tensor import Tensor
from ..models.gpt import Block, GPTConfig, gpt2_init_
from ..nn import Embedding, LayerNorm, Linear, Module, ModuleList, init


@dataclass(frozen=True)
class ICLConfig:
    dim: int = 5                 # d, the dimension of x
    n_points: int = 11           # K, examples per prompt (the model sees 2K - 1 tokens)
    d_model: int = 64
    n_layer: int = 4
    n_head: int = 4
    mlp_ratio: int = 4

    def __post_init__(self):
        if self.dim < 1 or self.n_points < 1:
            raise ValueError(f"ICLConfig: dim and n_points must be >= 1, got {self.dim}, "
                             f"{self.n_points}")

    def block_config(self) -> GPTConfig:
        return GPTConfig(block_size=self.n_tokens, n_layer=self.n_layer, n_head=self.n_head,
                         d_model=self.d_model, mlp_ratio=self.mlp_ratio)

    @property
    def n_tokens(self) -> int:
        return 2 * self.n_points - 1


def trunk(model, tokens, width: int, max_len: int):
    """The body every ICL model here shares: tokens (B, T, width) with T <= max_len -> the
    final-normed hidden states (B, T, C) of read_in + learned positions + the blocks. The
    model needs read_in, pos_emb, blocks and norm; its head reads the result."""
    z = tokens.data if isinstance(tokens, Tensor) else np.asarray(tokens, np.float32)
    _, T, got = z.shape
    if got != width or T > max_len:
        raise ValueError(f"{type(model).__name__}: expected tokens (B, T <= {max_len}, "
                         f"{width}), got {z.shape}")
    h = model.read_in(Tensor(z)) + model.pos_emb(np.arange(T))  # (B, T, C)
    for block in model.blocks:
        h = block(h)
    return model.norm(h)


class ICLRegressor(Module):
    def __init__(self, cfg: ICLConfig, seed: int = 0):
        super().__init__()
        self.config = cfg
        rng = np.random.default_rng(seed)
        block_cfg = cfg.block_config()  # validates d_model % n_head
        self.read_in = Linear(cfg.dim + 1, cfg.d_model, generator=rng)
        self.pos_emb = Embedding(cfg.n_tokens, cfg.d_model, generator=rng)
        self.blocks = ModuleList(Block(block_cfg) for _ in range(cfg.n_layer))
        self.norm = LayerNorm(cfg.d_model)
        self.read_out = Linear(cfg.d_model, 1, generator=rng)
        self._init_backbone(rng)

    def _init_backbone(self, rng):
        """GPT-2 init inside the blocks and for positions: N(0, 0.02), residual outputs
        N(0, 0.02 / sqrt(2 n_layer)), zero biases."""
        init.normal_(self.pos_emb.weight, 0.0, 0.02, generator=rng)
        gpt2_init_(self.blocks.named_parameters(), self.config.n_layer, rng)

    def forward(self, tokens):
        """tokens (B, T, d+1) with T <= 2K - 1 -> predictions (B, ceil(T/2)) at the x tokens."""
        h = trunk(self, tokens, self.config.dim + 1, self.config.n_tokens)  # (B, T, C)
        return self.read_out(h)[:, 0::2, 0]  # (B, ceil(T/2)): the prediction of y_i at x_i

    def loss(self, tokens, ys):
        """Squared error averaged over prompts and x positions (Garg et al.)."""
        pred = self(tokens)
        return F.mse_loss(pred, Tensor(np.asarray(ys, dtype=pred.dtype)[:, :pred.shape[1]]))

    def config_dict(self):
        return asdict(self.config)
