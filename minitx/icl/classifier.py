"""The in-context classifier: a GPT-style model over real-valued tokens with any mixer.

    tokens (B, T, n+1) -> linear read-in + learned position embedding    (B, T, C)
    -> n_layer x minitx.models.gpt.Block (pre-norm; the mixer is chosen by name)
    -> final LayerNorm -> linear read-out to 2 logits                     (B, T, 2)
    -> the logits at x positions 0, 2, 4, ...                            (B, K, 2)

Paper: "Understanding In-Context Learning in Transformers and LLMs by Learning to
Learn Discrete Functions" (Bhattamishra et al.): the Garg et al. setup (linear
read-in of x and y tokens, prediction at each x token) trained on Boolean labels, with
the Transformer swapped for attention-free sequence models to compare them.  We use
the cross-entropy of the label; the token layout is ``minitx.tasks.boolean.interleave``.
Cost: that of the mixer (O(T^2) for softmax attention, O(T) for a recurrent mixer).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .. import functional as F
from .. import mixers
from ..models.gpt import Block, GPTConfig, gpt2_init_
from ..nn import Embedding, LayerNorm, Linear, Module, ModuleList, init
from .models import trunk


def check_mixers(names, where: str):
    """Raise a ValueError naming every unregistered mixer and the accepted names."""
    unknown = [m for m in names if m not in mixers.names()]
    if unknown:
        raise ValueError(f"{where}: unknown mixer(s) {unknown} (accepted: "
                         f"{', '.join(mixers.names())})")
    if not names:
        raise ValueError(f"{where}: mixers must name at least one mixer")


@dataclass(frozen=True)
class ClassifierConfig:
    n_dims: int = 10              # n, the width of x
    n_points: int = 40            # K, examples per prompt (2K - 1 tokens)
    d_model: int = 64
    n_layer: int = 2
    n_head: int = 4
    mlp_ratio: int = 4
    mixer: str = "softmax"

    def __post_init__(self):
        check_mixers([self.mixer], "ClassifierConfig")

    @property
    def n_tokens(self) -> int:
        return 2 * self.n_points - 1

    def block_config(self) -> GPTConfig:
        return GPTConfig(block_size=self.n_tokens, n_layer=self.n_layer, n_head=self.n_head,
                         d_model=self.d_model, mlp_ratio=self.mlp_ratio, mixer=self.mixer)


class ICLClassifier(Module):
    def __init__(self, cfg: ClassifierConfig, seed: int = 0):
        super().__init__()
        self.config = cfg
        rng = np.random.default_rng(seed)
        block_cfg = cfg.block_config()
        self.read_in = Linear(cfg.n_dims + 1, cfg.d_model, generator=rng)
        self.pos_emb = Embedding(cfg.n_tokens, cfg.d_model, generator=rng)
        self.blocks = ModuleList(Block(block_cfg) for _ in range(cfg.n_layer))
        self.norm = LayerNorm(cfg.d_model)
        self.read_out = Linear(cfg.d_model, 2, generator=rng)
        init.normal_(self.pos_emb.weight, 0.0, 0.02, generator=rng)
        gpt2_init_(self.blocks.named_parameters(), cfg.n_layer, rng)

    def forward(self, tokens):
        """tokens (B, T, n+1), T <= 2K - 1 -> logits (B, ceil(T/2), 2) at the x tokens."""
        h = trunk(self, tokens, self.config.n_dims + 1, self.config.n_tokens)  # (B, T, C)
        logits = self.read_out(h)  # (B, T, 2)
        return logits[:, 0::2, :]  # (B, ceil(T/2), 2)

    def loss(self, tokens, ys):
        """Cross-entropy of f(x_i) at every x token, averaged over prompts and positions."""
        logits = self(tokens)
        B, K, _ = logits.shape
        return F.cross_entropy(logits.reshape(B * K, 2),
                               np.asarray(ys, np.int64)[:, :K].reshape(-1))

    def predict(self, tokens) -> np.ndarray:
        """Labels (B, K) in {0, 1}: the argmax logit at each x token."""
        return self(tokens).data.argmax(-1).astype(np.uint8)

    def config_dict(self):
        return asdict(self.config)
