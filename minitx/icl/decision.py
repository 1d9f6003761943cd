"""A transformer that acts in bandits in context: it reads a history and picks the next arm.

    tokens (B, t + 1, A + 1)  start, [onehot(a_1), r_1], ..., [onehot(a_t), r_t]
    -> linear read-in + learned position embedding                   (B, t + 1, C)
    -> n_layer x minitx.models.gpt.Block (pre-norm, causal attention)
    -> final LayerNorm -> linear head                                (B, t + 1, A)
    logits at position s choose a_{s+1} from the first s rounds only

Supervised pretraining ("Transformers as Decision Makers: Provable In-Context
Reinforcement Learning via Supervised Pretraining", Lin, Bai & Mei): minimise the
cross-entropy between these logits and the action an expert algorithm takes on
the same history prefix.  With the expert equal to the algorithm that generated
the history this is algorithm distillation; the minimiser is the expert's
conditional action distribution given the history, so at test the model samples
from its softmax.  Cost per history: O(T^2 C) attention + O(T C^2) elsewhere;
acting for T rounds re-reads the prefix each round, O(T^3 C).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .. import functional as F
from ..autograd.function import no_grad
from ..models.gpt import Block, GPTConfig, gpt2_init_
from ..nn import Embedding, LayerNorm, Linear, Module, ModuleList, init
from ..tasks.bandits import Bandits, history_tokens
from .models import trunk


@dataclass(frozen=True)
class PolicyConfig:
    n_arms: int = 5
    horizon: int = 50            # T: rounds per history (positions 0 .. T - 1)
    d_model: int = 64
    n_layer: int = 3
    n_head: int = 4

    def __post_init__(self):
        if self.n_arms < 2 or self.horizon < 1:
            raise ValueError(f"PolicyConfig: n_arms must be >= 2 and horizon >= 1, got "
                             f"{self.n_arms}, {self.horizon}")


class TransformerPolicy(Module):
    def __init__(self, cfg: PolicyConfig, seed: int = 0):
        super().__init__()
        self.config = cfg
        rng = np.random.default_rng(seed)
        block_cfg = GPTConfig(block_size=cfg.horizon, n_layer=cfg.n_layer, n_head=cfg.n_head,
                              d_model=cfg.d_model)
        self.read_in = Linear(cfg.n_arms + 1, cfg.d_model, generator=rng)
        self.pos_emb = Embedding(cfg.horizon, cfg.d_model, generator=rng)
        self.blocks = ModuleList(Block(block_cfg) for _ in range(cfg.n_layer))
        self.norm = LayerNorm(cfg.d_model)
        self.head = Linear(cfg.d_model, cfg.n_arms, generator=rng)
        init.normal_(self.pos_emb.weight, 0.0, 0.02, generator=rng)
        gpt2_init_(self.blocks.named_parameters(), cfg.n_layer, rng)

    def forward(self, tokens):
        """tokens (B, t, A + 1) with t <= T -> action logits (B, t, A)."""
        h = trunk(self, tokens, self.config.n_arms + 1, self.config.horizon)  # (B, t, C)
        return self.head(h)  # (B, t, A)

    def loss(self, tokens, targets):
        """Mean cross-entropy of the logits against the expert's actions targets (B, t)."""
        logits = self(tokens)
        B, t, A = logits.shape
        return F.cross_entropy(logits.reshape(B * t, A), np.asarray(targets).reshape(-1))

    @no_grad()
    def act(self, bandits: Bandits, horizon: int, rng: np.random.Generator,
            greedy: bool = False):
        """Play ``horizon`` rounds on every bandit, sampling each action from the softmax
        (argmax when greedy): returns (actions (B, T) int, rewards (B, T))."""
        if not 1 <= horizon <= self.config.horizon:
            raise ValueError(f"act: horizon must be in [1, {self.config.horizon}], got {horizon}")
        B = bandits.batch
        actions = np.zeros((B, horizon), dtype=np.int64)
        rewards = np.zeros((B, horizon))
        for t in range(horizon):
            tokens = history_tokens(actions[:, :t], rewards[:, :t], bandits.n_arms)
            logits = self(tokens).data[:, -1].astype(np.float64)  # (B, A)
            a = logits.argmax(1) if greedy else sample_softmax(logits, rng)
            actions[:, t], rewards[:, t] = a, bandits.pull(a, rng)
        return actions, rewards

    def config_dict(self):
        return asdict(self.config)


def sample_softmax(logits, rng: np.random.Generator) -> np.ndarray:
    """One index per row drawn from softmax(logits (B, A))."""
    p = np.exp(logits - logits.max(1, keepdims=True))
    cdf = np.cumsum(p / p.sum(1, keepdims=True), axis=1)
    u = rng.random((logits.shape[0], 1))
    return np.minimum((u > cdf).sum(1), logits.shape[1] - 1)
