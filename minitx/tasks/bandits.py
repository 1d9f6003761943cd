"""Multi-armed bandits, batched: B independent bandits of A arms played for T rounds.

    bernoulli   arm a pays 1 with probability mu_a, else 0;   mu_a ~ U(0, 1)
    gaussian    arm a pays mu_a + noise_std * eps;              mu_a ~ N(0, 1)

A history of T rounds is the actions a_1 .. a_T (B, T) int and rewards r_1 .. r_T
(B, T).  As a sequence for a transformer (``history_tokens``) round t is one token
[onehot(a_t), r_t] of width A + 1, after a start token of zeros:

    position   0        1              ...   T - 1
    token      start    (a_1, r_1)     ...   (a_{T-1}, r_{T-1})
    predicts   a_1      a_2            ...   a_T

so the output at position t chooses a_{t+1} from the first t rounds only.

Papers: "Transformers as Decision Makers: Provable In-Context Reinforcement
Learning via Supervised Pretraining" (Lin, Bai & Mei) and "Filtering Learning
Histories Enhances In-Context Reinforcement Learning" (LHF), whose bandit
experiments these follow in spirit.  Every random thing takes a Generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("bernoulli", "gaussian")


@dataclass(frozen=True)
class Bandits:
    """B bandits: means (B, A); kind in KINDS; noise_std for the Gaussian kind."""

    means: np.ndarray
    kind: str = "bernoulli"
    noise_std: float = 1.0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"bandits: kind must be one of {KINDS}, got {self.kind!r}")
        if np.ndim(self.means) != 2 or np.shape(self.means)[1] < 2:
            raise ValueError(f"bandits: means must have shape (B, A) with A >= 2, got "
                             f"{np.shape(self.means)}")
        if self.kind == "bernoulli" and (np.min(self.means) < 0 or np.max(self.means) > 1):
            raise ValueError("bandits: Bernoulli means must lie in [0, 1]")
        if not self.noise_std > 0:
            raise ValueError(f"bandits: noise_std must be > 0, got {self.noise_std}")

    @property
    def batch(self) -> int:
        return self.means.shape[0]

    @property
    def n_arms(self) -> int:
        return self.means.shape[1]

    def pull(self, actions, rng: np.random.Generator) -> np.ndarray:
        """One reward per bandit for actions (B,) int -> (B,) float."""
        actions = np.asarray(actions)
        if actions.shape != (self.batch,) or actions.min() < 0 or actions.max() >= self.n_arms:
            raise ValueError(f"bandits: actions must be (B={self.batch},) ints in "
                             f"[0, {self.n_arms - 1}], got shape {actions.shape}")
        mu = self.means[np.arange(self.batch), actions]
        if self.kind == "bernoulli":
            return (rng.random(self.batch) < mu).astype(np.float64)
        return mu + self.noise_std * rng.standard_normal(self.batch)

    def subset(self, index) -> "Bandits":
        return Bandits(self.means[index], self.kind, self.noise_std)


def sample_bandits(batch: int, n_arms: int, rng: np.random.Generator, kind: str = "bernoulli",
                   noise_std: float = 1.0) -> Bandits:
    """Fresh bandits: Bernoulli means ~ U(0, 1), Gaussian means ~ N(0, 1)."""
    if batch < 1 or n_arms < 2:
        raise ValueError(f"bandits: batch must be >= 1 and n_arms >= 2, got {batch}, {n_arms}")
    if kind not in KINDS:
        raise ValueError(f"bandits: kind must be one of {KINDS}, got {kind!r}")
    means = rng.random((batch, n_arms)) if kind == "bernoulli" else \
        rng.standard_normal((batch, n_arms))
    return Bandits(means, kind, noise_std)


def history_tokens(actions, rewards, n_arms: int, dtype=np.float32) -> np.ndarray:
    """actions (B, t), rewards (B, t) -> tokens (B, t + 1, A + 1): the start token, then
    [onehot(a_s), r_s] for s = 1 .. t (the layout in the module docstring)."""
    actions, rewards = np.asarray(actions), np.asarray(rewards)
    if actions.shape != rewards.shape or actions.ndim != 2:
        raise ValueError(f"history_tokens: actions and rewards must both be (B, t), got "
                         f"{actions.shape} and {rewards.shape}")
    B, t = actions.shape
    tokens = np.zeros((B, t + 1, n_arms + 1), dtype=dtype)
    rows, cols = np.meshgrid(np.arange(B), np.arange(t), indexing="ij")
    tokens[rows, cols + 1, actions] = 1.0  # one-hot action of round s at position s
    tokens[:, 1:, n_arms] = rewards
    return tokens


def best_means(bandits: Bandits) -> np.ndarray:
    """mu* per bandit: (B,)."""
    return bandits.means.max(axis=1)


def cumulative_regret(bandits: Bandits, actions) -> np.ndarray:
    """Pseudo-regret sum_{s <= t} (mu* - mu_{a_s}) after every round: (B, T)."""
    actions = np.asarray(actions)
    chosen = np.take_along_axis(bandits.means, actions, axis=1)  # mu_{a_t}   (B, T)
    return np.cumsum(best_means(bandits)[:, None] - chosen, axis=1)
