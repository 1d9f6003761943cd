"""Classical bandit algorithms, batched over B bandits, and a runner that plays them.

Every algorithm is a policy ``policy(stats, t, rng) -> actions (B,)`` that sees only
the running statistics of its own history (``Stats``: pulls n_a and reward sums
s_a per arm) and the round t (1-based):

    random          a uniform arm
    epsilon_greedy  with probability eps a uniform arm, else argmax of the mean s_a / n_a
                    (unpulled arms first)
    ucb             UCB1: every arm once, then argmax s_a / n_a + c sqrt(2 ln t / n_a)
                    ("Finite-time Analysis of the Multiarmed Bandit Problem", Auer et al.)
    thompson        Thompson sampling: draw one mean per arm from the posterior, play the
                    argmax.  Bernoulli: Beta(1 + s_a, 1 + n_a - s_a) from a uniform prior;
                    Gaussian: N(s_a / (n_a + 1), noise^2 / (n_a + 1)) from a N(0, noise^2) prior
                    on each mean (a conjugate choice; the true means are N(0, 1))

Ties break uniformly at random.  ``play`` runs a policy for T rounds and returns the
history; ``minitx.tasks.bandits.cumulative_regret`` counts its regret.  Each round
costs O(B A); a history O(T B A).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..tasks.bandits import Bandits

ALGORITHMS = ("random", "epsilon_greedy", "ucb", "thompson")


@dataclass
class Stats:
    """Running per-arm statistics of B histories: pulls (B, A), reward sums (B, A)."""

    pulls: np.ndarray
    sums: np.ndarray

    @classmethod
    def empty(cls, batch: int, n_arms: int) -> "Stats":
        return cls(np.zeros((batch, n_arms)), np.zeros((batch, n_arms)))

    def update(self, actions, rewards) -> None:
        rows = np.arange(len(actions))
        self.pulls[rows, actions] += 1
        self.sums[rows, actions] += rewards

    def means(self) -> np.ndarray:
        """Empirical mean per arm (0 for unpulled arms)."""
        return self.sums / np.maximum(self.pulls, 1)


def argmax_random_ties(scores, rng: np.random.Generator) -> np.ndarray:
    """Row-wise argmax of scores (B, A), a uniformly random one among ties."""
    jitter = rng.random(scores.shape)
    best = scores >= scores.max(axis=1, keepdims=True) - 1e-12
    return np.argmax(np.where(best, jitter, -1.0), axis=1)


def random_policy(stats: Stats, t: int, rng: np.random.Generator, kind: str = "bernoulli"):
    return rng.integers(0, stats.pulls.shape[1], size=stats.pulls.shape[0])


def epsilon_greedy(stats: Stats, t: int, rng: np.random.Generator, kind: str = "bernoulli",
                   eps: float = 0.1):
    if not 0 <= eps <= 1:
        raise ValueError(f"epsilon_greedy: eps must be in [0, 1], got {eps}")
    greedy = argmax_random_ties(np.where(stats.pulls == 0, np.inf, stats.means()), rng)
    explore = rng.random(len(greedy)) < eps
    return np.where(explore, random_policy(stats, t, rng), greedy)


def ucb(stats: Stats, t: int, rng: np.random.Generator, kind: str = "bernoulli",
        c: float = 1.0):
    if c < 0:
        raise ValueError(f"ucb: c must be >= 0, got {c}")
    bonus = c * np.sqrt(2.0 * np.log(max(t, 1)) / np.maximum(stats.pulls, 1))
    scores = np.where(stats.pulls == 0, np.inf, stats.means() + bonus)
    return argmax_random_ties(scores, rng)


def thompson(stats: Stats, t: int, rng: np.random.Generator, kind: str = "bernoulli",
             noise_std: float = 1.0):
    if kind == "bernoulli":
        draws = rng.beta(1.0 + stats.sums, 1.0 + stats.pulls - stats.sums)
    else:
        post_n = stats.pulls + 1.0
        draws = stats.sums / post_n + noise_std / np.sqrt(post_n) * rng.standard_normal(
            stats.pulls.shape)
    return argmax_random_ties(draws, rng)


_POLICIES = {"random": random_policy, "epsilon_greedy": epsilon_greedy, "ucb": ucb,
             "thompson": thompson}


def get_policy(name: str):
    if name not in _POLICIES:
        raise ValueError(f"bandits: unknown algorithm {name!r} (accepted: {', '.join(ALGORITHMS)})")
    return _POLICIES[name]


def play(policy, bandits: Bandits, horizon: int, rng: np.random.Generator, **options):
    """Run ``policy`` (a name in ALGORITHMS or a function) for ``horizon`` rounds on every
    bandit: returns (actions (B, T) int, rewards (B, T))."""
    if horizon < 1:
        raise ValueError(f"play: horizon must be >= 1, got {horizon}")
    fn = get_policy(policy) if isinstance(policy, str) else policy
    if fn is thompson and bandits.kind == "gaussian":
        options.setdefault("noise_std", bandits.noise_std)
    stats = Stats.empty(bandits.batch, bandits.n_arms)
    actions = np.zeros((bandits.batch, horizon), dtype=np.int64)
    rewards = np.zeros((bandits.batch, horizon))
    for t in range(horizon):
        a = fn(stats, t + 1, rng, kind=bandits.kind, **options)
        r = bandits.pull(a, rng)
        stats.update(a, r)
        actions[:, t], rewards[:, t] = a, r
    return actions, rewards
